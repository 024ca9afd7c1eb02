/* Kept apart from linux.c: <linux/tcp.h> has the full tcp_info but clashes with
   <netinet/tcp.h>. */
#include "CWPSLinux.h"
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
