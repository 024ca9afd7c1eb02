#ifndef CWPSLINUX_H
#define CWPSLINUX_H
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* glibc's epoll_event is packed on x86_64, which Swift imports poorly; this one is not. */
typedef struct {
    uint32_t events;
    uint64_t data;
} wps_epoll_event;

enum {
    WPS_EPOLLIN = 0x001,
    WPS_EPOLLOUT = 0x004,
    WPS_EPOLLERR = 0x008,
    WPS_EPOLLHUP = 0x010,
    WPS_EPOLLRDHUP = 0x2000,
};

int wps_epoll_create(void);
int wps_epoll_add(int epfd, int fd, uint32_t events, uint64_t data);
int wps_epoll_mod(int epfd, int fd, uint32_t events, uint64_t data);
int wps_epoll_del(int epfd, int fd);
int wps_epoll_wait(int epfd, wps_epoll_event *events, int max_events, int timeout_ms);

int wps_eventfd(void);
int wps_eventfd_signal(int fd);
int wps_eventfd_drain(int fd);

/* Listening socket bound to host:port with SO_REUSEPORT, non-blocking. Returns fd or -errno. */
int wps_listen_tcp(const char *host, int port, int backlog, int reuse_port);
/* Non-blocking accept; returns fd, or -errno (-EAGAIN when nothing is pending). */
int wps_accept(int listen_fd);
/* Connections waiting in a TCP listener's accept queue, or -errno (-EINVAL when the socket
 * is not a listening TCP socket). */
int wps_accept_backlog(int listen_fd);
/* Non-blocking connect to host:port; returns fd or -errno. EINPROGRESS is success. */
int wps_connect_tcp(const char *host, int port);
/* Non-blocking connect from sourceHost (bound before connecting, port left to the kernel). */
int wps_connect_tcp_from(const char *host, int port, const char *source_host);
/* Bound port of a socket (for port 0 listeners), or -errno. */
int wps_local_port(int fd);
int wps_set_nodelay(int fd);
/* TCP segments with data this socket has received (TCP_INFO), or -1 where unknown. */
long long wps_tcp_data_segments_in(int fd);
/* Returns SO_ERROR of a socket (0 when fine). */
int wps_socket_error(int fd);
/* The peer's IP address as text (IPv4-mapped IPv6 addresses as IPv4); 0, or -1 on error. */
int wps_peer_address(int fd, char *out, int out_len);

/* recv/writev that return -errno instead of -1. Sockets are read with recv(2) rather than
   read(2), which skips the file layer's per-call work, as wps_send does for writes. */
ssize_t wps_recv(int fd, void *buf, size_t len);
ssize_t wps_writev(int fd, const struct iovec *iov, int count);
/* One buffer to a socket: send(2) skips writev's file-layer work (position lock, permission
   and notification hooks), a measurable share of a small write's cost. */
ssize_t wps_send(int fd, const void *buf, size_t len);
/* writev for a socket's last bytes before close: held back (MSG_MORE) so that the FIN of
   the close that follows leaves in the same segment. */
ssize_t wps_writev_last(int fd, const struct iovec *iov, int count);
int wps_close(int fd);
int wps_shutdown_write(int fd);
int wps_errno_eagain(void);

/* Block SIGINT/SIGTERM/SIGHUP/SIGPIPE in the calling thread (inherited by threads it makes). */
int wps_block_signals(void);
/* Waits for SIGINT/SIGTERM/SIGHUP and returns its number. */
int wps_wait_signal(void);
/* Raises the open-file soft limit as far as the hard limit allows; returns the new soft limit. */
long wps_raise_nofile(long wanted);
int wps_cpu_count(void);
/* Binds the calling thread to one CPU (the bench's wake-up probe); 0 or an errno value. */
int wps_pin_current_thread(int cpu);
uint64_t wps_monotonic_ns(void);
/* The calling thread's kernel id, for /proc/<pid>/task/<tid>. */
int wps_thread_id(void);
#endif
