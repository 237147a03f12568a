"""Blocking commands through redpair: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
BZPOPMAX, BZMPOP, and XREAD / XREADGROUP with BLOCK.

redpair parks a blocked client in itself, tries the non-blocking form through the write stream and
tries again whenever a write naming one of its keys passes the sequencer, longest waiter first
(README, "Blocking commands"). These tests hold that to Redis's own behaviour:

- differential sessions of several raw-RESP clients, run against a redis-server directly and
  through redpair (a fresh pair) at the same time, with every reply byte-identical: a client
  blocks (nothing may arrive for QUIET seconds), another client's write serves it; writes of other
  kinds that serve a waiter and writes that must not; immediate serving; errors; fairness;
  disconnected waiters; other clients served while one waits; corners (which key serves a waiter
  when several are written at once, how a wait ends when its stream or group goes away).
  Afterwards both backends hold the same data as the direct server;
- timeouts answer the null array after about their time (loose bounds), timeout 0 waits for ever;
- redis-py consumers (BLPOP, BRPOPLPUSH/BLMOVE reliable queues, XREADGROUP BLOCK) receive every
  item exactly once, and both backends end equal.

Sessions are the differential ones of sessions.py.

Run: REDPAIR_BIN=build/redpair PYTHONPATH=tests/integration \\
         /usr/bin/python3 tests/integration/test_blocking.py
"""

import threading
import time

from harness import RawConn, main, resp_command, run_threads
from sessions import W, SessionTestCase, describe, quiet, run_both

# --- sessions -----------------------------------------------------------------------------------

# Woken by another client's write, one blocking command of each kind.
WOKEN = [
    # BLPOP on several keys: the second one gets the push
    ("block", 0, ("BLPOP", "bl:1", "bl:2", "bl:3", "0")),
    (W, ("RPUSH", "bl:2", "a")),
    ("wake", 0),
    (W, ("EXISTS", "bl:2")),
    # BRPOP takes from the right
    ("block", 0, ("BRPOP", "br", "0")),
    (W, ("RPUSH", "br", "x", "y")),
    ("wake", 0),
    (W, ("LRANGE", "br", "0", "-1")),
    # a timeout that has not run out yet does not matter
    ("block", 0, ("BLPOP", "bt", "30")),
    (W, ("LPUSH", "bt", "soon")),
    ("wake", 0),
    # BLMOVE LEFT RIGHT; a push to its destination does not serve it
    ("block", 0, ("BLMOVE", "mv:src", "mv:dst", "LEFT", "RIGHT", "0")),
    (W, ("RPUSH", "mv:dst", "old")),
    ("quiet", 0),
    (W, ("RPUSH", "mv:src", "v1", "v2")),
    ("wake", 0),
    (W, ("LRANGE", "mv:src", "0", "-1")),
    (W, ("LRANGE", "mv:dst", "0", "-1")),
    # BLMOVE onto a key another client is blocked on: a chained wake-up
    ("block", 0, ("BLMOVE", "ch:src", "ch:dst", "LEFT", "RIGHT", "0")),
    ("block", 1, ("BLPOP", "ch:dst", "0")),
    (W, ("RPUSH", "ch:src", "v")),
    ("wake", 0),
    ("wake", 1),
    (W, ("EXISTS", "ch:src", "ch:dst")),
    # ... and a chain of two moves
    ("block", 0, ("BLMOVE", "c2:a", "c2:b", "RIGHT", "LEFT", "0")),
    ("block", 1, ("BRPOPLPUSH", "c2:b", "c2:c", "0")),
    ("block", 2, ("BRPOP", "c2:c", "0")),
    (W, ("LPUSH", "c2:a", "hop")),
    ("wake", 0),
    ("wake", 1),
    ("wake", 2),
    (W, ("EXISTS", "c2:a", "c2:b", "c2:c")),
    # a BLMOVE that rotates its own list, with a waiter behind it on the same key
    ("block", 0, ("BLMOVE", "rot", "rot", "LEFT", "RIGHT", "0")),
    ("block", 1, ("BLPOP", "rot", "0")),
    (W, ("RPUSH", "rot", "r")),
    ("wake", 0),
    ("wake", 1),
    # BRPOPLPUSH
    ("block", 0, ("BRPOPLPUSH", "rp:src", "rp:dst", "0")),
    (W, ("LPUSH", "rp:src", "w1", "w2")),
    ("wake", 0),
    (W, ("LRANGE", "rp:src", "0", "-1")),
    (W, ("LRANGE", "rp:dst", "0", "-1")),
    # BZPOPMIN on two keys, the second gets members; BZPOPMAX
    ("block", 0, ("BZPOPMIN", "z:1", "z:2", "0")),
    (W, ("ZADD", "z:2", "5", "m", "3", "n")),
    ("wake", 0),
    (W, ("ZRANGE", "z:2", "0", "-1", "WITHSCORES")),
    ("block", 0, ("BZPOPMAX", "z:3", "0")),
    (W, ("ZADD", "z:3", "1", "a", "2", "b", "1.5", "c")),
    ("wake", 0),
    (W, ("ZRANGE", "z:3", "0", "-1", "WITHSCORES")),
    # BLMPOP LEFT COUNT 2, BZMPOP MIN COUNT 2
    ("block", 0, ("BLMPOP", "0", "2", "mp:1", "mp:2", "LEFT", "COUNT", "2")),
    (W, ("RPUSH", "mp:2", "a", "b", "c")),
    ("wake", 0),
    (W, ("LRANGE", "mp:2", "0", "-1")),
    ("block", 0, ("BLMPOP", "0", "1", "mp:3", "RIGHT", "COUNT", "5")),
    (W, ("RPUSH", "mp:3", "a", "b")),
    ("wake", 0),
    ("block", 0, ("BZMPOP", "0", "1", "zm", "MIN", "COUNT", "2")),
    (W, ("ZADD", "zm", "1", "a", "2", "b", "3", "c")),
    ("wake", 0),
    ("block", 0, ("BZMPOP", "0", "2", "zm:x", "zm:y", "MAX", "COUNT", "10")),
    (W, ("ZADD", "zm:y", "1", "a", "2", "b")),
    ("wake", 0),
    # XREAD BLOCK 0 ... $ on a stream that does not exist yet
    ("block", 0, ("XREAD", "BLOCK", "0", "STREAMS", "xs", "$")),
    (W, ("XADD", "xs", "5-1", "f", "v")),
    ("wake", 0),
    # $ on a stream with entries: only what comes after
    ("block", 0, ("XREAD", "COUNT", "10", "BLOCK", "0", "STREAMS", "xs", "$")),
    (W, ("XADD", "xs", "6-1", "f", "w")),
    ("wake", 0),
    # XREAD BLOCK with an explicit ID
    (W, ("XADD", "xe", "1-1", "f", "v")),
    ("block", 0, ("XREAD", "BLOCK", "0", "STREAMS", "xe", "1-1")),
    (W, ("XADD", "xe", "2-1", "f", "w")),
    ("wake", 0),
    # an explicit ID past what gets added: the entry does not serve, a later one does
    ("block", 0, ("XREAD", "BLOCK", "0", "STREAMS", "xf", "10-0")),
    (W, ("XADD", "xf", "5-1", "f", "early")),
    ("quiet", 0),
    (W, ("XADD", "xf", "11-1", "f", "late")),
    ("wake", 0),
    # $ stays the last ID seen at blocking time, even when the stream is deleted and made again
    (W, ("XADD", "xr", "5-1", "f", "v")),
    ("block", 0, ("XREAD", "BLOCK", "0", "STREAMS", "xr", "$")),
    (W, ("DEL", "xr")),
    ("quiet", 0),
    (W, ("XADD", "xr", "1-1", "f", "low")),
    ("quiet", 0),
    (W, ("XADD", "xr", "6-1", "f", "high")),
    ("wake", 0),
    # several streams, one of them written
    (W, ("XADD", "xm:1", "1-1", "a", "1")),
    ("block", 0, ("XREAD", "BLOCK", "0", "STREAMS", "xm:1", "xm:2", "$", "0-0")),
    (W, ("XADD", "xm:2", "3-3", "b", "2")),
    ("wake", 0),
    # XREADGROUP GROUP g c BLOCK 0 STREAMS s >
    (W, ("XGROUP", "CREATE", "xg", "g", "$", "MKSTREAM")),
    ("block", 0, ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "xg", ">")),
    (W, ("XADD", "xg", "5-1", "f", "v")),
    ("wake", 0),
    ("block", 0, ("XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "BLOCK", "0", "STREAMS", "xg", ">")),
    (W, ("XADD", "xg", "7-1", "f", "w")),
    ("wake", 0),
    (W, ("XPENDING", "xg", "g")),
    (W, ("XINFO", "GROUPS", "xg")),
    # XREADGROUP NOACK
    ("block", 0, ("XREADGROUP", "GROUP", "g", "c2", "NOACK", "BLOCK", "0", "STREAMS", "xg", ">")),
    (W, ("XADD", "xg", "8-1", "f", "x")),
    ("wake", 0),
    (W, ("XPENDING", "xg", "g")),
    # XREAD woken by a transaction of two XADDs sees both
    ("block", 0, ("XREAD", "BLOCK", "0", "STREAMS", "xt", "$")),
    (W, ("MULTI",)),
    (W, ("XADD", "xt", "1-1", "n", "1")),
    (W, ("XADD", "xt", "2-1", "n", "2")),
    (W, ("EXEC",)),
    ("wake", 0),
    # the woken connection goes on normally
    (0, ("PING",)),
    (0, ("SET", "after", "1")),
]

# Writes of other kinds that serve a waiter, and writes that must not.
WAKERS = [
    # a non-blocking LMOVE into the key
    (W, ("RPUSH", "wk:src", "m")),
    ("block", 0, ("BLPOP", "wk:1", "0")),
    (W, ("LMOVE", "wk:src", "wk:1", "LEFT", "LEFT")),
    ("wake", 0),
    # RENAME of a list onto the key
    (W, ("RPUSH", "wk:tmp", "r1", "r2")),
    ("block", 0, ("BRPOP", "wk:2", "0")),
    (W, ("RENAME", "wk:tmp", "wk:2")),
    ("wake", 0),
    (W, ("LRANGE", "wk:2", "0", "-1")),
    # a transaction
    ("block", 0, ("BLPOP", "wk:3", "0")),
    (W, ("MULTI",)),
    (W, ("SET", "wk:other", "1")),
    (W, ("RPUSH", "wk:3", "t1", "t2")),
    (W, ("EXEC",)),
    ("wake", 0),
    # a script declaring the key
    ("block", 0, ("BZPOPMIN", "wk:4", "0")),
    (W, ("EVAL", "return redis.call('ZADD', KEYS[1], 7, ARGV[1])", "1", "wk:4", "lua")),
    ("wake", 0),
    # writes that name the key in other places than the first argument
    (W, ("RPUSH", "wk:so", "3", "1", "2")),
    ("block", 0, ("BLPOP", "wk:sorted", "0")),
    (W, ("SORT", "wk:so", "STORE", "wk:sorted")),
    ("wake", 0),
    ("block", 0, ("BLPOP", "wk:copy", "0")),
    (W, ("COPY", "wk:so", "wk:copy")),
    ("wake", 0),
    (W, ("ZADD", "wk:za", "1", "x")),
    ("block", 0, ("BZPOPMIN", "wk:zu", "0")),
    (W, ("ZUNIONSTORE", "wk:zu", "1", "wk:za")),
    ("wake", 0),
    ("block", 0, ("BZPOPMAX", "wk:zr", "0")),
    (W, ("ZRANGESTORE", "wk:zr", "wk:za", "0", "-1")),
    ("wake", 0),
    ("block", 0, ("BZPOPMAX", "wk:zi", "0")),
    (W, ("ZINCRBY", "wk:zi", "2", "m")),
    ("wake", 0),
    ("block", 0, ("BZPOPMIN", "wk:geo", "0")),
    (W, ("GEOADD", "wk:geo", "13.361389", "38.115556", "Palermo")),
    ("wake", 0),
    (W, ("GEOADD", "wk:geo", "13.361389", "38.115556", "Palermo")),
    ("block", 0, ("BZPOPMIN", "wk:gr", "0")),
    (W, ("GEORADIUS", "wk:geo", "15", "37", "200", "km", "STORE", "wk:gr")),
    ("wake", 0),
    ("block", 0, ("BZPOPMIN", "wk:gs", "0")),
    (W, ("GEOSEARCHSTORE", "wk:gs", "wk:geo", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km")),
    ("wake", 0),
    # the same key named twice
    ("block", 0, ("BLPOP", "wk:tw", "wk:tw", "0")),
    (W, ("RPUSH", "wk:tw", "a")),
    ("wake", 0),
    # RPUSHX on a missing key creates nothing: still blocked; a push then serves
    ("block", 0, ("BLPOP", "wk:5", "0")),
    (W, ("RPUSHX", "wk:5", "nothing")),
    ("quiet", 0),
    # a transaction that pushes and pops it again leaves nothing to serve
    (W, ("MULTI",)),
    (W, ("RPUSH", "wk:5", "gone")),
    (W, ("LPOP", "wk:5")),
    (W, ("EXEC",)),
    ("quiet", 0),
    # a write to another key, DEL of the waited-on (missing) key, FLUSHDB
    (W, ("RPUSH", "wk:unrelated", "u")),
    (W, ("DEL", "wk:5")),
    ("quiet", 0),
    (W, ("FLUSHDB",)),
    ("quiet", 0),
    (W, ("RPUSH", "wk:5", "finally")),
    ("wake", 0),
    # a BLMOVE whose destination became a string while it waited: WRONGTYPE, the source kept
    ("block", 1, ("BLMOVE", "wk:bs", "wk:bd", "LEFT", "RIGHT", "0")),
    (W, ("SET", "wk:bd", "str")),
    ("quiet", 1),
    (W, ("RPUSH", "wk:bs", "v")),
    ("wake", 1),
    (W, ("LRANGE", "wk:bs", "0", "-1")),
    # a key of the same name in another database is another key
    (0, ("SELECT", "1")),
    ("block", 0, ("BLPOP", "wk:db", "0")),
    (W, ("RPUSH", "wk:db", "db0")),
    ("quiet", 0),
    (W, ("SELECT", "1")),
    (W, ("RPUSH", "wk:db", "db1")),
    ("wake", 0),
    (W, ("SELECT", "0")),
    (W, ("LRANGE", "wk:db", "0", "-1")),
    # MOVE and COPY ... DB into the waiter's database
    ("block", 0, ("BLPOP", "wk:mv", "0")),
    (W, ("RPUSH", "wk:mv", "moved")),
    (W, ("MOVE", "wk:mv", "1")),
    ("wake", 0),
    ("block", 0, ("BLPOP", "wk:cp", "0")),
    (W, ("COPY", "wk:db", "wk:cp", "DB", "1")),
    ("wake", 0),
    # SWAPDB brings a list under the waiter (databases 1 and 2: redpair keeps a key of its own in 0)
    (W, ("SELECT", "2")),
    (W, ("RPUSH", "wk:sw", "from-db2")),
    (W, ("SELECT", "0")),
    ("block", 0, ("BLPOP", "wk:sw", "0")),
    (W, ("SWAPDB", "1", "2")),
    ("wake", 0),
    (0, ("SELECT", "0")),
    # a blocked client's pipelined commands wait behind the blocking one
    ("send", 0, ("BLPOP", "wk:pipe", "0")),
    ("send", 0, ("PING",)),
    ("send", 0, ("INCR", "wk:n")),
    ("quiet", 0),
    (W, ("GET", "wk:n")),
    (W, ("RPUSH", "wk:pipe", "p")),
    ("read", 0),
    ("read", 0),
    ("read", 0),
]

# Served at once when the data is there; errors, each with Redis's exact text.
IMMEDIATE_AND_ERRORS = [
    (W, ("RPUSH", "im", "a", "b", "c", "d", "e", "f")),
    (0, ("BLPOP", "im", "0")),
    (0, ("BLPOP", "im:none", "im", "0")),
    (0, ("BRPOP", "im", "1")),
    (0, ("BLMOVE", "im", "im:dst", "RIGHT", "LEFT", "0")),
    (0, ("BRPOPLPUSH", "im", "im:dst", "0")),
    (0, ("BLMPOP", "0", "2", "im:none", "im", "RIGHT", "COUNT", "10")),
    (0, ("EXISTS", "im")),
    (0, ("LRANGE", "im:dst", "0", "-1")),
    (W, ("ZADD", "iz", "1", "a", "2", "b", "3", "c", "4", "d")),
    (0, ("BZPOPMIN", "iz", "0")),
    (0, ("BZPOPMAX", "iz:none", "iz", "0")),
    (0, ("BZMPOP", "0", "1", "iz", "MIN", "COUNT", "5")),
    (W, ("XADD", "ix", "1-1", "f", "v")),
    (W, ("XADD", "ix", "2-1", "f", "w")),
    (0, ("XREAD", "BLOCK", "0", "STREAMS", "ix", "0")),
    (0, ("XREAD", "COUNT", "1", "BLOCK", "0", "STREAMS", "ix", "1-1")),
    (W, ("XGROUP", "CREATE", "ix", "g", "0")),
    (0, ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "ix", ">")),
    # an ID other than > reads the consumer's history, never blocks
    (0, ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "ix", "0")),
    (0, ("XREADGROUP", "GROUP", "g", "other", "BLOCK", "0", "STREAMS", "ix", "0")),
    # timeouts
    (0, ("BLPOP", "e", "-1")),
    (0, ("BLPOP", "e", "abc")),
    (0, ("BLPOP", "e", "")),
    (0, ("BLPOP", "e", "1e20")),
    (0, ("BRPOP", "e", "-0.5")),
    (0, ("BZPOPMIN", "e", "-1")),
    (0, ("BZPOPMAX", "e", "x")),
    (0, ("BLMOVE", "e", "d", "LEFT", "RIGHT", "-1")),
    (0, ("BRPOPLPUSH", "e", "d", "nan")),
    (0, ("BLMPOP", "-1", "1", "e", "LEFT")),
    (0, ("BZMPOP", "abc", "1", "e", "MIN")),
    (0, ("XREAD", "BLOCK", "-1", "STREAMS", "s", "$")),
    (0, ("XREAD", "BLOCK", "abc", "STREAMS", "s", "$")),
    (0, ("XREAD", "BLOCK", "1.5", "STREAMS", "s", "$")),
    (0, ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "-1", "STREAMS", "ix", ">")),
    # wrong types
    (W, ("SET", "str", "v")),
    (0, ("BLPOP", "str", "0")),
    (0, ("BLPOP", "e", "str", "0")),
    (0, ("BRPOP", "str", "0")),
    (0, ("BZPOPMIN", "str", "0")),
    (0, ("BZPOPMAX", "im:dst", "0")),
    (0, ("BLMOVE", "str", "d", "LEFT", "RIGHT", "0")),
    (0, ("BLMOVE", "im:dst", "str", "LEFT", "RIGHT", "0")),
    (0, ("LRANGE", "im:dst", "0", "-1")),
    (0, ("BRPOPLPUSH", "im:dst", "str", "0")),
    (0, ("BLMPOP", "0", "1", "str", "LEFT")),
    (0, ("BZMPOP", "0", "1", "str", "MAX")),
    (0, ("XREAD", "BLOCK", "0", "STREAMS", "str", "$")),
    (0, ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "str", ">")),
    # missing group or stream
    (0, ("XREADGROUP", "GROUP", "nog", "c", "BLOCK", "0", "STREAMS", "ix", ">")),
    (0, ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "nostream", ">")),
    # arity and syntax
    (0, ("BLPOP", "e")),
    (0, ("BLPOP",)),
    (0, ("BRPOP", "e")),
    (0, ("BZPOPMIN", "e")),
    (0, ("BLMOVE", "e", "d", "LEFT", "0")),
    (0, ("BLMOVE", "e", "d", "UP", "DOWN", "0")),
    (0, ("BRPOPLPUSH", "e", "d")),
    (0, ("BLMPOP", "0", "0", "e", "LEFT")),
    (0, ("BLMPOP", "0", "2", "e", "LEFT")),
    (0, ("BLMPOP", "0", "1", "e", "MIDDLE")),
    (0, ("BLMPOP", "0", "1", "e", "LEFT", "COUNT", "0")),
    (0, ("BZMPOP", "0", "1", "e", "MID")),
    (0, ("BZMPOP", "0", "1", "e", "MIN", "COUNT", "-1")),
    (0, ("XREAD", "BLOCK", "0", "STREAMS", "s")),
    (0, ("XREAD", "BLOCK", "0", "STREAMS")),
    (0, ("XREAD", "BLOCK", "0", "STREAMS", "s", "bad-id")),
    (0, ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "ix")),
    (0, ("XREADGROUP", "GROUP", "g", "BLOCK", "0", "STREAMS", "ix", ">")),
    # none of that blocked or broke the connection
    (0, ("SET", "done", "1")),
    (0, ("GET", "done")),
]

# The longest waiter is served first, whatever it waits with.
FAIRNESS = [
    # one element at a time
    ("block", 0, ("BLPOP", "f", "0")),
    ("block", 1, ("BLPOP", "f", "0")),
    ("block", 2, ("BLPOP", "f", "0")),
    (W, ("LPUSH", "f", "1")),
    ("wake", 0),
    ("quiet", 1),
    ("quiet", 2),
    (W, ("LPUSH", "f", "2")),
    ("wake", 1),
    ("quiet", 2),
    (W, ("LPUSH", "f", "3")),
    ("wake", 2),
    (W, ("EXISTS", "f")),
    # three elements at once serve all three, in order
    ("block", 0, ("BLPOP", "f", "0")),
    ("block", 1, ("BLPOP", "f", "0")),
    ("block", 2, ("BLPOP", "f", "0")),
    (W, ("LPUSH", "f", "a", "b", "c")),
    ("wake", 0),
    ("wake", 1),
    ("wake", 2),
    # two elements for three waiters: the third keeps waiting
    ("block", 2, ("BLPOP", "f", "0")),
    ("block", 0, ("BLPOP", "f", "0")),
    ("block", 1, ("BLPOP", "f", "0")),
    (W, ("RPUSH", "f", "x", "y")),
    ("wake", 2),
    ("wake", 0),
    ("quiet", 1),
    (W, ("RPUSH", "f", "z")),
    ("wake", 1),
    # different commands on one list, in the order they blocked
    ("block", 0, ("BLPOP", "f:mix", "0")),
    ("block", 1, ("BRPOP", "f:mix", "0")),
    ("block", 2, ("BLMOVE", "f:mix", "f:out", "LEFT", "LEFT", "0")),
    (W, ("RPUSH", "f:mix", "1", "2", "3", "4")),
    ("wake", 0),
    ("wake", 1),
    ("wake", 2),
    (W, ("LRANGE", "f:mix", "0", "-1")),
    (W, ("LRANGE", "f:out", "0", "-1")),
    # a waiter on several keys is still the longest waiter on the one written
    ("block", 0, ("BLPOP", "f:a", "f:b", "0")),
    ("block", 1, ("BLPOP", "f:b", "0")),
    (W, ("RPUSH", "f:b", "first")),
    ("wake", 0),
    ("quiet", 1),
    (W, ("RPUSH", "f:b", "second")),
    ("wake", 1),
    # sorted sets
    ("block", 0, ("BZPOPMIN", "f:z", "0")),
    ("block", 1, ("BZPOPMIN", "f:z", "0")),
    ("block", 2, ("BZPOPMAX", "f:z", "0")),
    (W, ("ZADD", "f:z", "1", "a", "2", "b", "3", "c", "4", "d")),
    ("wake", 0),
    ("wake", 1),
    ("wake", 2),
    (W, ("ZRANGE", "f:z", "0", "-1")),
    # a consumer group hands each entry to one consumer, the longest waiter first
    (W, ("XGROUP", "CREATE", "f:s", "g", "$", "MKSTREAM")),
    ("block", 0, ("XREADGROUP", "GROUP", "g", "c0", "BLOCK", "0", "STREAMS", "f:s", ">")),
    ("block", 1, ("XREADGROUP", "GROUP", "g", "c1", "BLOCK", "0", "STREAMS", "f:s", ">")),
    (W, ("XADD", "f:s", "1-1", "n", "1")),
    ("wake", 0),
    ("quiet", 1),
    (W, ("XADD", "f:s", "2-1", "n", "2")),
    ("wake", 1),
    (W, ("XPENDING", "f:s", "g")),
    # plain XREAD readers all get the same entry
    ("block", 0, ("XREAD", "BLOCK", "0", "STREAMS", "f:s", "$")),
    ("block", 1, ("XREAD", "BLOCK", "0", "STREAMS", "f:s", "$")),
    ("block", 2, ("XREAD", "BLOCK", "0", "STREAMS", "f:s", "2-1")),
    (W, ("XADD", "f:s", "3-1", "n", "3")),
    ("wake", 0),
    ("wake", 1),
    ("wake", 2),
]

# A blocked client that goes away takes nothing.
DISCONNECTS = [
    ("block", 0, ("BLPOP", "dc", "0")),
    ("close", 0),
    (W, ("RPUSH", "dc", "x")),
    (W, ("LRANGE", "dc", "0", "-1")),
    # the next waiter in line gets it instead
    ("block", 1, ("BLPOP", "dc2", "0")),
    ("block", 2, ("BLPOP", "dc2", "0")),
    ("close", 1),
    (W, ("RPUSH", "dc2", "y")),
    ("wake", 2),
    (W, ("EXISTS", "dc2")),
    # a BLMOVE waiter that goes away moves nothing
    ("block", 2, ("BLMOVE", "dc3", "dc3:dst", "LEFT", "RIGHT", "0")),
    ("close", 2),
    (W, ("RPUSH", "dc3", "z")),
    (W, ("LRANGE", "dc3", "0", "-1")),
    (W, ("EXISTS", "dc3:dst")),
]

# While one client waits, the others are served normally.
INTERPLAY = [
    ("block", 0, ("BLPOP", "ip:k", "0")),
    (1, ("PING",)),
    (1, ("SET", "ip:s", "v")),
    (1, ("GET", "ip:s")),
    (1, ("INCR", "ip:n")),
    (1, ("RPUSH", "ip:other", "o1", "o2")),
    (1, ("BLPOP", "ip:other", "0")),
    (1, ("LRANGE", "ip:other", "0", "-1")),
    ("quiet", 0),
    # another waiter on another key, woken first
    ("block", 2, ("BRPOP", "ip:k2", "0")),
    (W, ("RPUSH", "ip:k2", "second")),
    ("wake", 2),
    ("quiet", 0),
    (2, ("MSET", "ip:a", "1", "ip:b", "2")),
    (2, ("MGET", "ip:a", "ip:b", "ip:s")),
    (W, ("LPUSH", "ip:k", "finally")),
    ("wake", 0),
    (0, ("GET", "ip:n")),
]

# After a timeout the client gets nothing that arrives later, and goes on normally.
AFTER_TIMEOUT = [
    (0, ("BLPOP", "to:k", "0.1")),
    (W, ("RPUSH", "to:k", "x")),
    ("quiet", 0),
    (W, ("LRANGE", "to:k", "0", "-1")),
    (0, ("XREAD", "BLOCK", "100", "STREAMS", "to:s", "$")),
    (W, ("XADD", "to:s", "1-1", "f", "v")),
    ("quiet", 0),
    (0, ("BLPOP", "to:k", "0.1")),
    (0, ("PING",)),
]

# Corners of Redis's (7.0) behaviour; each case runs on connections of its own.
CORNERS = {
    # Redis serves waiters after each command, key by key in the order the keys were written: a
    # waiter on k1 and k2 gets k2's element when k2 was written first, in a pipeline, or in one
    # transaction or script (served after the whole of it).
    "pipeline writing the second key first": [
        ("block", 0, ("BLPOP", "c0:1", "c0:2", "0")),
        ("pipe", W, [("RPUSH", "c0:2", "two"), ("RPUSH", "c0:1", "one")]),
        ("wake", 0),
        (W, ("LRANGE", "c0:1", "0", "-1")),
    ],
    "transaction writing the second key first": [
        ("block", 0, ("BLPOP", "c1:1", "c1:2", "0")),
        (W, ("MULTI",)),
        (W, ("RPUSH", "c1:2", "two")),
        (W, ("RPUSH", "c1:1", "one")),
        (W, ("EXEC",)),
        ("wake", 0),
        (W, ("LRANGE", "c1:1", "0", "-1")),
        (W, ("LRANGE", "c1:2", "0", "-1")),
    ],
    # a script's writes are not seen one by one: redpair takes its keys in the order it declares
    # them (README), here the order it writes them in
    "script writing the waiter's second key first": [
        ("block", 0, ("BLPOP", "c2:2", "c2:1", "0")),
        (W, ("EVAL", "redis.call('RPUSH', KEYS[1], 'one'); return redis.call('RPUSH', KEYS[2], 'two')",
             "2", "c2:1", "c2:2")),
        ("wake", 0),
        (W, ("LRANGE", "c2:2", "0", "-1")),
    ],
    # the waiter is served before the writer's next command runs
    "pipeline pushing then popping": [
        ("block", 0, ("BLPOP", "c7", "0")),
        ("pipe", W, [("RPUSH", "c7", "x"), ("LPOP", "c7"), ("RPUSH", "c7", "y"), ("RPOP", "c7")]),
        ("wake", 0),
        (W, ("EXISTS", "c7")),
    ],
    # a blocking move inside a transaction moves at once, and serves whoever waits on its
    # destination
    "BLMOVE in a transaction feeding a waiter": [
        (W, ("RPUSH", "c13:src", "v")),
        ("block", 0, ("BLPOP", "c13:dst", "0")),
        (W, ("MULTI",)),
        (W, ("BLMOVE", "c13:src", "c13:dst", "LEFT", "RIGHT", "0")),
        (W, ("BRPOPLPUSH", "c13:none", "c13:dst", "0")),
        (W, ("EXEC",)),
        ("wake", 0),
    ],
    # a woken XREAD gets the stream that became ready first, alone
    "transaction adding to two streams": [
        ("block", 0, ("XREAD", "BLOCK", "0", "STREAMS", "c8:a", "c8:b", "$", "$")),
        (W, ("MULTI",)),
        (W, ("XADD", "c8:b", "1-1", "f", "b")),
        (W, ("XADD", "c8:a", "1-1", "f", "a")),
        (W, ("EXEC",)),
        ("wake", 0),
    ],
    "transaction writing the second sorted set first": [
        ("block", 0, ("BZPOPMIN", "c3:1", "c3:2", "0")),
        (W, ("MULTI",)),
        (W, ("ZADD", "c3:2", "2", "two")),
        (W, ("ZADD", "c3:1", "1", "one")),
        (W, ("EXEC",)),
        ("wake", 0),
        (W, ("ZRANGE", "c3:1", "0", "-1")),
    ],
    # XREADGROUP waiters are told when their stream or group goes away
    "stream deleted under XREADGROUP": [
        (W, ("XGROUP", "CREATE", "c4", "g", "$", "MKSTREAM")),
        ("block", 0, ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "c4", ">")),
        (W, ("DEL", "c4")),
        ("wake", 0),
        (W, ("XADD", "c4", "1-1", "f", "v")),
        ("quiet", 0),
        (0, ("PING",)),
    ],
    "group destroyed under XREADGROUP": [
        (W, ("XGROUP", "CREATE", "c5", "g", "$", "MKSTREAM")),
        ("block", 0, ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "c5", ">")),
        (W, ("XGROUP", "DESTROY", "c5", "g")),
        ("wake", 0),
        (0, ("PING",)),
    ],
    "stream deleted and made again under XREADGROUP": [
        (W, ("XGROUP", "CREATE", "c9", "g", "$", "MKSTREAM")),
        ("block", 0, ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "c9", ">")),
        ("pipe", W, [("MULTI",), ("DEL", "c9"), ("XADD", "c9", "1-1", "f", "v"), ("EXEC",)]),
        ("wake", 0),
    ],
    "stream replaced by a list under XREADGROUP": [
        (W, ("XGROUP", "CREATE", "c10", "g", "$", "MKSTREAM")),
        ("block", 0, ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "c10", ">")),
        ("pipe", W, [("MULTI",), ("DEL", "c10"), ("RPUSH", "c10", "x"), ("EXEC",)]),
        ("wake", 0),
    ],
    # a flush or a swap takes the stream away: Redis tells the XREADGROUP waiter, while a BLPOP
    # or an XREAD waiter has nothing to be served and waits on
    "FLUSHALL under XREADGROUP and BLPOP": [
        (W, ("XGROUP", "CREATE", "c14", "g", "$", "MKSTREAM")),
        ("block", 0, ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "c14", ">")),
        ("block", 1, ("BLPOP", "c14:l", "0")),
        ("block", 2, ("XREAD", "BLOCK", "0", "STREAMS", "c14:x", "$")),
        (W, ("FLUSHALL",)),
        ("wake", 0),
        ("quiet", 1),
        ("quiet", 2),
        (W, ("RPUSH", "c14:l", "v")),
        ("wake", 1),
        (W, ("XADD", "c14:x", "1-1", "f", "v")),
        ("wake", 2),
    ],
    "FLUSHDB under XREADGROUP": [
        (0, ("SELECT", "1")),
        (W, ("SELECT", "1")),
        (W, ("XGROUP", "CREATE", "c15", "g", "$", "MKSTREAM")),
        ("block", 0, ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "c15", ">")),
        (W, ("FLUSHDB",)),
        ("wake", 0),
        (W, ("SELECT", "0")),
    ],
    "SWAPDB under XREADGROUP": [
        (0, ("SELECT", "1")),
        (W, ("SELECT", "1")),
        (W, ("XGROUP", "CREATE", "c16", "g", "$", "MKSTREAM")),
        ("block", 0, ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "c16", ">")),
        (W, ("SWAPDB", "1", "2")),
        ("wake", 0),
        (W, ("SWAPDB", "1", "2")),
        (W, ("SELECT", "0")),
    ],
    # a consumer made or deleted does not wake a waiter either
    "XGROUP CREATECONSUMER and DELCONSUMER under XREADGROUP": [
        (W, ("XGROUP", "CREATE", "c11", "g", "$", "MKSTREAM")),
        ("block", 0, ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "c11", ">")),
        (W, ("XGROUP", "CREATECONSUMER", "c11", "g", "other")),
        (W, ("XGROUP", "DELCONSUMER", "c11", "g", "other")),
        ("quiet", 0),
        (W, ("XADD", "c11", "1-1", "f", "v")),
        ("wake", 0),
    ],
    # SWAPDB with database 0, where redpair keeps a key of its own that clients never see
    "SWAPDB of database 0 under a waiter": [
        (W, ("RPUSH", "c12", "from-db0")),
        (0, ("SELECT", "1")),
        ("block", 0, ("BLPOP", "c12", "0")),
        (W, ("SWAPDB", "0", "1")),
        ("wake", 0),
        (0, ("DBSIZE",)),
        (0, ("KEYS", "c12*")),
        (W, ("DBSIZE",)),
        (W, ("SET", "c12:after", "1")),
        (W, ("SWAPDB", "1", "0")),
        (W, ("DBSIZE",)),
        (0, ("KEYS", "c12*")),
        (W, ("SWAPDB", "0", "16")),
        (W, ("SWAPDB", "0", "x")),
        (0, ("SELECT", "0")),
    ],
    # XGROUP SETID back to 0 does not wake a waiter; the next XADD gives it everything
    "XGROUP SETID under XREADGROUP": [
        (W, ("XADD", "c6", "1-1", "f", "v")),
        (W, ("XGROUP", "CREATE", "c6", "g", "$")),
        ("block", 0, ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "c6", ">")),
        (W, ("XGROUP", "SETID", "c6", "g", "0")),
        ("quiet", 0),
        (W, ("XADD", "c6", "2-1", "f", "w")),
        ("wake", 0),
    ],
}


# --- timing -------------------------------------------------------------------------------------

TIMED = [
    # (setup commands, timed command, lower bound of its wait in seconds)
    ((), ("BLPOP", "tm:l", "0.3"), 0.25),
    ((), ("BRPOP", "tm:l1", "tm:l2", "0.3"), 0.25),
    ((), ("BZPOPMIN", "tm:z", "0.3"), 0.25),
    ((), ("BZPOPMAX", "tm:z", "0.3"), 0.25),
    ((), ("BLMOVE", "tm:a", "tm:b", "LEFT", "RIGHT", "0.3"), 0.25),
    ((), ("BRPOPLPUSH", "tm:a", "tm:b", "0.3"), 0.25),
    ((), ("BLMPOP", "0.3", "2", "tm:l", "tm:m", "LEFT"), 0.25),
    ((), ("BZMPOP", "0.3", "1", "tm:z", "MAX", "COUNT", "3"), 0.25),
    ((), ("XREAD", "BLOCK", "300", "STREAMS", "tm:s", "$"), 0.25),
    ((("XADD", "tm:g", "1-1", "f", "v"), ("XGROUP", "CREATE", "tm:g", "g", "$")),
     ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "300", "STREAMS", "tm:g", ">"), 0.25),
    # longer ones alongside: each waiter has its own timer
    ((), ("BLPOP", "tm:l", "0.8"), 0.75),
    ((), ("XREAD", "BLOCK", "800", "STREAMS", "tm:s", "$"), 0.75),
]


def run_timed(port):
    """Every TIMED command on a connection of its own, all at once; returns [(reply, seconds)]."""
    with RawConn(port) as c:
        for setup, _, _ in TIMED:
            for cmd in setup:
                c.cmd(*cmd)
    conns = [RawConn(port, timeout=10) for _ in TIMED]
    try:
        def one(i):
            started = time.monotonic()
            conns[i].send(resp_command(*TIMED[i][1]))
            reply = conns[i].read_reply()
            return reply, time.monotonic() - started

        return run_threads(one, len(TIMED))
    finally:
        for c in conns:
            c.close()


def wait_for_ever_then_push(port, secs=1.2):
    """BLPOP with timeout 0: nothing for secs seconds, then a push serves it.
    Returns (stayed quiet, reply)."""
    with RawConn(port) as a, RawConn(port) as b:
        a.send(resp_command("BLPOP", "tm:forever", "0"))
        stayed = quiet(a, secs)
        b.cmd("RPUSH", "tm:forever", "at last")
        return stayed, a.read_reply()


# --- the tests ----------------------------------------------------------------------------------


SESSIONS = {
    "woken by another client": WOKEN,
    "writes that wake and writes that do not": WAKERS,
    "served at once, and errors": IMMEDIATE_AND_ERRORS,
    "the longest waiter first": FAIRNESS,
    "a waiter that disconnects takes nothing": DISCONNECTS,
    "everyone else served while one waits": INTERPLAY,
}


class BlockingTest(SessionTestCase):
    def test_sessions(self):
        for name, steps in SESSIONS.items():
            with self.subTest(name):
                self.assert_session_identical(steps)

    def test_timeouts(self):
        direct = self.start_redis()
        pair = self.start_pair()
        want = run_timed(direct.port)
        got = run_timed(pair.port)
        problems = []
        for (_, cmd, low), (w, wt), (g, gt) in zip(TIMED, want, got):
            if w != g:
                problems.append("%r: redis %r, redpair %r" % (cmd, w, g))
            elif g != b"*-1\r\n":
                problems.append("%r: expected the null array *-1, got %r" % (cmd, g))
            if not low <= gt < 3:
                problems.append("%r took %.3fs through redpair (redis: %.3fs), expected >= %.2fs and < 3s"
                                % (cmd, gt, wt, low))
        self.assertFalse(problems, "\n".join(problems))

        for port, who in ((direct.port, "redis"), (pair.port, "redpair")):
            stayed, reply = wait_for_ever_then_push(port)
            self.assertTrue(stayed, "%s: BLPOP with timeout 0 was answered before the push" % who)
            self.assertEqual(reply, b"*2\r\n$10\r\ntm:forever\r\n$7\r\nat last\r\n", who)

        # what arrives after a timeout is not the timed-out client's
        want, got = run_both(direct.port, pair.port, AFTER_TIMEOUT)
        diffs = describe(want, got)
        self.assertFalse(diffs, "steps differ (step, redis-server, redpair):\n" + "\n".join(diffs))
        self.assert_pair_consistent(pair, direct)

    # corners of Redis's own behaviour

    def test_corners(self):
        direct = self.start_redis()
        pair = self.start_pair()
        failed = []
        for name, steps in CORNERS.items():
            with self.subTest(name):
                want, got = run_both(direct.port, pair.port, steps)
                diffs = describe(want, got)
                if diffs:
                    failed.append(name)
                    self.fail("%s: %d of %d steps differ (step, redis-server, redpair):\n%s"
                              % (name, len(diffs), len(steps), "\n".join(diffs)))
        # Compared with the direct server only when every case went Redis's way.
        self.assert_pair_consistent(pair, None if failed else direct)

    def test_client_unblock(self):
        pair = self.start_pair()
        with pair.raw() as waiter, pair.raw() as other:
            waiter_id = int(waiter.cmd("CLIENT", "ID")[1:-2])
            for reason, reply in (("TIMEOUT", b"*-1\r\n"),
                                  ("ERROR", b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n")):
                waiter.send(resp_command("BRPOP", "nothing", "0"))
                self.assertTrue(quiet(waiter))
                self.assertIn(b" flags=b ", other.cmd("CLIENT", "LIST", "ID", str(waiter_id)))
                self.assertEqual(other.cmd("CLIENT", "UNBLOCK", str(waiter_id), reason), b":1\r\n")
                self.assertEqual(waiter.read_reply(), reply)
            self.assertEqual(other.cmd("CLIENT", "UNBLOCK", str(waiter_id)), b":0\r\n")
        self.assert_pair_consistent(pair)

    def test_key_changing_type_under_a_waiter_gets_wrongtype(self):
        """README: unlike Redis 7.0 (which keeps the client blocked), a key that changes type while
        a client waits on it gets that client WRONGTYPE at the next write to it."""
        pair = self.start_pair()
        with pair.raw() as a, pair.raw() as b:
            a.send(resp_command("BLPOP", "ty", "0"))
            self.assertTrue(quiet(a))
            self.assertEqual(b.cmd("SET", "ty", "string now"), b"+OK\r\n")
            self.assertEqual(
                a.read_reply(), b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")
            self.assertEqual(a.cmd("PING"), b"+PONG\r\n")
        self.assert_pair_consistent(pair)

    # 6. redis-py consumers

    def test_redis_py_blpop_consumers(self):
        pair = self.start_pair()
        lists = ["job:%d" % i for i in range(4)]
        total = 500
        consumers = 4
        received = []
        lock = threading.Lock()
        all_in = threading.Event()

        def consume(t):
            r = pair.client()
            got = []
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                item = r.blpop(lists, timeout=5)
                if item is None:
                    continue
                if item[1] == b"stop":
                    return got
                got.append(item[1])
                with lock:
                    received.append(item[1])
                    if len(received) == total:
                        all_in.set()
            raise AssertionError("consumer %d gave up after 40s with %d items" % (t, len(got)))

        def produce():
            r = pair.client()
            for i in range(total):
                r.lpush(lists[i % 4], "item-%d" % i)

        def stop_when_all_in():
            if all_in.wait(40):
                r = pair.client()
                for _ in range(consumers):  # one sentinel per consumer: each takes one and leaves
                    r.rpush(lists[0], "stop")

        helpers = [threading.Thread(target=produce, daemon=True),
                   threading.Thread(target=stop_when_all_in, daemon=True)]
        for h in helpers:
            h.start()
        got = run_threads(consume, consumers)
        for h in helpers:
            h.join(timeout=45)
        items = [v for g in got for v in g]
        self.assertEqual(len(items), total, "items received in all")
        self.assertEqual(sorted(items), sorted(b"item-%d" % i for i in range(total)),
                         "every item received exactly once")
        self.assert_pair_consistent(pair)
        for server in (pair.a, pair.b):
            c = server.client()
            self.assertEqual([c.llen(k) for k in lists], [0] * 4)

    def test_redis_py_reliable_queue(self):
        """BRPOPLPUSH and BLMOVE into a per-worker processing list, LREM once done."""
        pair = self.start_pair()
        total = 150
        done = []
        lock = threading.Lock()
        all_done = threading.Event()

        def worker(t):
            r = pair.client()
            busy = "rq:busy:%d" % t
            mine = []
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                if t == 0:
                    job = r.brpoplpush("rq", busy, timeout=5)
                else:
                    job = r.blmove("rq", busy, timeout=5, src="RIGHT", dest="LEFT")
                if job is None:
                    continue
                if r.lrange(busy, 0, -1) != [job]:
                    raise AssertionError("worker %d: %s holds %r, expected [%r]"
                                         % (t, busy, r.lrange(busy, 0, -1), job))
                if r.lrem(busy, 1, job) != 1:
                    raise AssertionError("worker %d: LREM %s %r removed nothing" % (t, busy, job))
                if job == b"stop":
                    return mine
                mine.append(job)
                with lock:
                    done.append(job)
                    if len(done) == total:
                        all_done.set()
            raise AssertionError("worker %d gave up after 40s" % t)

        def produce():
            r = pair.client()
            for i in range(total):
                r.lpush("rq", "job-%d" % i)
            if all_done.wait(40):
                r.lpush("rq", "stop", "stop")

        producer = threading.Thread(target=produce, daemon=True)
        producer.start()
        got = run_threads(worker, 2)
        producer.join(timeout=45)
        jobs = [j for g in got for j in g]
        self.assertEqual(sorted(jobs), sorted(b"job-%d" % i for i in range(total)),
                         "every job processed exactly once")
        self.assert_pair_consistent(pair)
        for server in (pair.a, pair.b):
            c = server.client()
            self.assertEqual([c.exists(k) for k in ("rq", "rq:busy:0", "rq:busy:1")], [0, 0, 0])

    def test_redis_py_xreadgroup_consumers(self):
        pair = self.start_pair()
        total = 200
        r = pair.client()
        r.xgroup_create("ev", "g", id="$", mkstream=True)
        acked = []
        lock = threading.Lock()

        def reader(t):
            c = pair.client()
            seen = []
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                with lock:
                    if len(acked) >= total:
                        return seen
                res = c.xreadgroup("g", "c%d" % t, {"ev": ">"}, count=10, block=300)
                for _stream, entries in res or []:
                    for entry_id, _fields in entries:
                        seen.append(entry_id)
                        if c.xack("ev", "g", entry_id) != 1:
                            raise AssertionError("reader %d: XACK %r acknowledged nothing" % (t, entry_id))
                        with lock:
                            acked.append(entry_id)
            raise AssertionError("reader %d gave up after 40s" % t)

        def add():
            c = pair.client()
            for i in range(total):
                c.xadd("ev", {"n": i}, id="%d-1" % (i + 1))

        adder = threading.Thread(target=add, daemon=True)
        adder.start()
        seen = run_threads(reader, 3)
        adder.join(timeout=45)
        ids = [v for s in seen for v in s]
        self.assertEqual(sorted(ids), sorted(b"%d-1" % (i + 1) for i in range(total)),
                         "every entry read exactly once")
        self.assertEqual(r.xpending("ev", "g")["pending"], 0)
        self.assertEqual(r.xlen("ev"), total)
        self.assert_pair_consistent(pair)


if __name__ == "__main__":
    main()
