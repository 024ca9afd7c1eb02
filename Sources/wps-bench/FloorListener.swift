import Glibc

/// The floor workload's own loopback listener: accepted sockets are set up as the server's
/// accepted sockets are (non-blocking, close-on-exec, TCP_NODELAY; see `wps_accept`).
struct FloorListener {
    let fd: Int32
    let port: Int

    /// Listens on 127.0.0.1 on a port the kernel picks, with room for `backlog` connects.
    init?(backlog: Int) {
        let fd = socket(
            AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(fd, raw, length) == 0 && listen(fd, Int32(min(backlog, 65_535))) == 0
                    && getsockname(fd, raw, &length) == 0
            }
        }
        guard bound else {
            Glibc.close(fd)
            return nil
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Accepts every waiting connection, waiting up to `timeoutMillis` for the first.
    func acceptWaiting(timeoutMillis: Int32) -> [Int32] {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, timeoutMillis) > 0 else { return [] }
        var accepted: [Int32] = []
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                break
            }
            _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            var one: Int32 = 1
            _ = setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            accepted.append(client)
        }
        return accepted
    }

    func close() {
        Glibc.close(fd)
    }
}
