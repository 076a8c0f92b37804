/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ice-driver: drives one NbWorkerIce per process for tests/e2e/test-ice.sh.
 *
 *   ice-driver broker ADDR PORT
 *       A stand-in for the signal server: accepts two TCP connections and
 *       copies every line of one to the other (lines that arrive before the
 *       other side connects are kept). Exits when both sides have gone.
 *
 *   ice-driver peer --name N --control ADDR:PORT [options]
 *       Connects to the broker, sends "CRED <ufrag> <pwd>", starts the
 *       worker at once (gathering, like an offerer) and trickles every
 *       local candidate as "CAND <line>". "CRED" from the other side sets
 *       the remote credentials; "CAND" lines go to
 *       nb_worker_ice_add_remote_candidate_string. Once connected it sends
 *       "ping <name> <seq>" every --ping-ms over ICE and answers pings with
 *       "pong". Prints events on stdout, one per line, with wall-clock
 *       milliseconds (t=) so that the script can time them against its own
 *       actions:
 *         CONNECTED t= start_ms= connect_ms= local=<type> <ep> remote=<type> <ep>
 *                   class=P2P|TURN priority=2|1 local_socket=<ip:port|none>
 *         PAIR-CHANGED t= local=... remote=... class=...
 *         RX-FIRST t= <ping text>      first datagram from the peer
 *         ECHO-FIRST t=                first answer to our ping (both ways work)
 *         ECHOES n=<count> t=          every 10 answers
 *         DISCONNECTED t= reason=...   / FAILED t= reason=...
 *       and exits 0 after DISCONNECTED/FAILED (agent released), on SIGTERM,
 *       or 2 after --timeout seconds without an end.
 *   Options: --controlling, --stun URI (repeatable), --turn URI,
 *     --turn-credentials FILE (two lines: user, password; the password never
 *     goes through argv or the environment), --relay, --force-relay,
 *     --blacklist default|none|PREFIX,..., --routed CIDR,...,
 *     --check-timeout-ms N, --ping-ms N, --timeout S.
 */
#include "config.h"

#include <glib.h>

#include "ice-driver-common.h"

int
main (int argc, char **argv)
{
  return ice_driver_run (argc, argv);
}
