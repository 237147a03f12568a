/* The built-in command table: Redis 7.0's commands, subcommands included, as COMMAND lists them.
 * command_table_new() builds from it; it is generated (see command_builtin.c), never edited. */
#ifndef REDPAIR_COMMAND_BUILTIN_H
#define REDPAIR_COMMAND_BUILTIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "command.h"

struct command_builtin {
    const char *name; /* lowercase full name: "get", "object|encoding" */
    int arity;
    unsigned flags; /* CMD_FLAG_* */
    int first_key, last_key, key_step;
    bool container;                    /* its subcommands follow it in the table */
    uint32_t categories;               /* bit i: command_category_names[i] */
    unsigned char key_first, key_rest; /* CMD_KEY_* */
};

extern const struct command_builtin command_builtin[];
extern const size_t command_builtin_count;

#endif
