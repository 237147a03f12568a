/* Logging in Redis's line format, so that the tools and habits operators have for Redis logs
 * work on redpair's too. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct {
    enum log_level level;
    FILE *fp; /* NULL: standard output */
} logger = {LOG_NOTICE, NULL};

void log_open(enum log_level level, const char *path)
{
    int fd, e;
    FILE *fp = NULL;

    log_close();
    logger.level = level;
    if (!path || !*path) return;

    /* O_APPEND keeps lines whole when several processes share the file, and lets logrotate's
     * copytruncate work without redpair reopening it. */
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd != -1 && !(fp = fdopen(fd, "a"))) {
        e = errno;
        close(fd);
        errno = e;
    }
    if (!fp) {
        e = errno;
        logger.fp = stderr;
        log_warning("Can't open the log file '%s': %s; logging to standard error", path,
                    strerror(e));
        return;
    }
    logger.fp = fp;
}

void log_set_level(enum log_level level)
{
    logger.level = level;
}

void log_close(void)
{
    if (logger.fp && logger.fp != stderr) fclose(logger.fp);
    logger.fp = NULL;
}

void log_write(enum log_level level, const char *fmt, ...)
{
    static const char marks[] = ".-*#";
    FILE *fp = logger.fp ? logger.fp : stdout;
    struct timeval tv;
    struct tm tm;
    char when[64];
    va_list ap;

    if (level < logger.level) return;
    if (level > LOG_WARNING) level = LOG_WARNING;

    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    strftime(when, sizeof(when), "%d %b %Y %H:%M:%S", &tm);
    fprintf(fp, "%d:M %s.%03d %c ", (int)getpid(), when, (int)(tv.tv_usec / 1000), marks[level]);
    va_start(ap, fmt);
    vfprintf(fp, fmt, ap);
    va_end(ap);
    fputc('\n', fp);
    fflush(fp);
}
