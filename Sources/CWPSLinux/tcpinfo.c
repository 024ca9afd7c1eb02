/* Kept apart from linux.c: <linux/tcp.h> has the full tcp_info but clashes with
   <netinet/tcp.h>. */
#include "CWPSLinux.h"
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

long long wps_tcp_data_segments_in(int fd) {
    struct tcp_info info;
    socklen_t length = sizeof info;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return -1;
    if (length < offsetof(struct tcp_info, tcpi_data_segs_in) + sizeof info.tcpi_data_segs_in) return -1;
    return info.tcpi_data_segs_in;
}

int wps_accept_backlog(int listen_fd) {
    /* For a listening socket Linux reports the accept queue's length in tcpi_unacked; only
     * the fields up to it are copied out. 10 is TCP_LISTEN, which no user header shares
     * with this tcp_info. */
    struct tcp_info info;
    socklen_t length = offsetof(struct tcp_info, tcpi_unacked) + sizeof info.tcpi_unacked;
    if (getsockopt(listen_fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return -errno;
    if (length < offsetof(struct tcp_info, tcpi_unacked) + sizeof info.tcpi_unacked || info.tcpi_state != 10) return -EINVAL;
    return info.tcpi_unacked > INT32_MAX ? INT32_MAX : (int)info.tcpi_unacked;
}
