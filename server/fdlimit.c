#include "fdlimit.h"

#include <stdbool.h>
#include <sys/resource.h>

#include "log.h"

/* Sets the soft limit to want, raising the hard one too if need be (as root may). */
static bool raise_to(rlim_t want, struct rlimit *rl)
{
    struct rlimit both = {
        want, rl->rlim_max != RLIM_INFINITY && rl->rlim_max < want ? want : rl->rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &both) == 0) {
        *rl = both;
        return true;
    }
    if (rl->rlim_max == RLIM_INFINITY || rl->rlim_max >= want || rl->rlim_max <= rl->rlim_cur)
        return false;
    struct rlimit soft = {rl->rlim_max, rl->rlim_max}; /* as far as the hard limit goes */
    if (setrlimit(RLIMIT_NOFILE, &soft) != 0) return false;
    *rl = soft;
    return true;
}

int fdlimit_fit(int maxclients)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return maxclients;
    rlim_t want = (rlim_t)maxclients + FDLIMIT_RESERVED;
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want) return maxclients;
    unsigned long long was = (unsigned long long)rl.rlim_cur;
    if (raise_to(want, &rl))
        log_notice("open files limit raised from %llu to %llu for maxclients %d", was,
                   (unsigned long long)rl.rlim_cur, maxclients);
    if (rl.rlim_cur >= want) return maxclients;
    int fit = rl.rlim_cur > FDLIMIT_RESERVED + 1 ? (int)(rl.rlim_cur - FDLIMIT_RESERVED) : 1;
    log_warning("maxclients %d needs %llu open files, but this process may open %llu "
                "(ulimit -n; LimitNOFILE in the systemd unit): maxclients is %d",
                maxclients, (unsigned long long)want, (unsigned long long)rl.rlim_cur, fit);
    return fit;
}
