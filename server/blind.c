#include "blind.h"

#include <string.h>

#include "resp.h"

bool blind_write(const struct command *cmd, int argc, const char *const *argv, const size_t *argl)
{
    switch (cmd->rewrite) {
    case REWRITE_SETEX:
    case REWRITE_PSETEX: return true;
    case REWRITE_SET:
        /* EX and PX have become PXAT (rewrite.h): an absolute expiry is the same whenever applied.
         */
        for (int i = 3; i < argc; i++)
            if (resp_arg_is(argv[i], argl[i], "nx") || resp_arg_is(argv[i], argl[i], "xx") ||
                resp_arg_is(argv[i], argl[i], "get") || resp_arg_is(argv[i], argl[i], "keepttl"))
                return false;
        return true;
    case REWRITE_NONE:
        return !strcmp(cmd->name, "del") || !strcmp(cmd->name, "mset") ||
               !strcmp(cmd->name, "unlink");
    default: return false;
    }
}
