#ifndef KARAPACE_NET_H
#define KARAPACE_NET_H
/* Bring up "lo" in a fresh network namespace (no `ip` binary involved). */
void net_loopback_up(void);
#endif
