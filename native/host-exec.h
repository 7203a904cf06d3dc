/* `karapace-host-exec`: a command inside asks a server outside to run a host command
 * (like distrobox-host-exec, `flatpak-spawn --host`). The wire format, shared by the
 * client (host-exec.c) and the server (host-exec-server.c), over a SOCK_SEQPACKET unix
 * socket:
 *   client -> server, once: HOST_EXEC_MAGIC "\0" cwd "\0" argc "\0" argv[0] "\0" ...
 *                           argv[argc-1] "\0" then the client's environment, NAME=VALUE
 *                           "\0" each, with the client's fds 0, 1, 2 as SCM_RIGHTS
 *   client -> server:       "s" + decimal signal number (forward a signal)
 *   server -> client, once: "x" + decimal exit status (128+N: killed by signal N)
 * The client closing the socket first hangs the command up (SIGHUP to its group). The
 * server decides what of the client's environment the host command takes. */
#ifndef KARAPACE_HOST_EXEC_H
#define KARAPACE_HOST_EXEC_H

#define HOST_EXEC_MAGIC "karapace-host-exec/2"
#define HOST_EXEC_SOCKET_INSIDE "/run/karapace-host-exec.sock"
#define HOST_EXEC_SOCKET_VAR "KARAPACE_HOST_EXEC_SOCKET"
#define HOST_EXEC_MAX_REQUEST 65536

#endif
