/* Log lines in Redis's format, "pid:X 22 Nov 2026 22:40:01.123 * message", to the logfile or
 * standard output. The level marks are Redis's too: . debug, - verbose, * notice, # warning. */
#ifndef REDPAIR_LOG_H
#define REDPAIR_LOG_H

#include "config.h"

void log_open(enum log_level level, const char *path); /* path NULL or "": standard output */
void log_set_level(enum log_level level);
void log_close(void);
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...)   log_write(LOG_DEBUG, __VA_ARGS__)
#define log_verbose(...) log_write(LOG_VERBOSE, __VA_ARGS__)
#define log_notice(...)  log_write(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_write(LOG_WARNING, __VA_ARGS__)

#endif
