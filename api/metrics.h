/* /metrics: redpair's counters in the Prometheus text format 0.0.4. */
#ifndef REDPAIR_METRICS_H
#define REDPAIR_METRICS_H

#include "buffer.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

void metrics_render(struct buffer *out);

#endif
