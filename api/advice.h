/* Operator advice: concrete warnings about the two backends (from the monitor's probes) and the
 * host (overcommit, transparent huge pages), as Redis's own start-up warnings and MEMORY DOCTOR
 * give them. */
#ifndef REDPAIR_ADVICE_H
#define REDPAIR_ADVICE_H

struct json_t;

/* {"advice":[{"severity":"warning"|"info","backend":"a"|null,"message":"…"}]} */
struct json_t *advice_json(void);

#endif
