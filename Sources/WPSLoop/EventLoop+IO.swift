import CWPSLinux
import Glibc

extension EventLoop {
    func acceptConnections() {
        guard listenFD >= 0 else { return }
        for _ in 0..<Self.acceptsPerWakeup {
            let fd = wps_accept(listenFD)
            if fd == -EAGAIN { return }
            if fd < 0 {
                if fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM {
                    // Out of descriptors: stop listening briefly instead of spinning on a
                    // level-triggered listener that cannot be drained.
                    _ = wps_epoll_del(epollFD, listenFD)
                    listenerPausedUntil = now + 100_000_000
                }
                return
            }
            register(fd: fd)
        }
    }

    /// Starts a non-blocking connect to `host:port` (numeric or resolvable); `handler` hears
    /// `connected`, or `closed` if it fails. Bytes sent before that are queued. Returns nil
    /// when the attempt fails at once.
    public func connect(host: String, port: Int, handler: ConnectionHandler) -> Connection? {
        let fd = wps_connect_tcp(host, Int32(port))
        guard fd >= 0 else { return nil }
        guard let connection = register(fd: fd, accepted: false, events: UInt32(WPS_EPOLLOUT | WPS_EPOLLRDHUP)) else {
            return nil
        }
        connection.state = .connecting
        connection.wantsWritable = true
        connection.isReading = false
        connection.handler = handler
        return connection
    }

    func finishConnecting(_ connection: Connection) {
        if wps_socket_error(connection.fd) != 0 {
            scheduleClose(connection)
            return
        }
        connection.state = .open
        connection.wantsWritable = false
        updateInterest(connection, reading: true)
        connection.handler?.connected(connection)
        if !connection.outbound.isEmpty { flush(connection) }
    }

    /// Registers a socket detached from another loop; the caller installs its handler.
    public func adopt(_ socket: DetachedSocket) -> Connection? {
        guard shutdownDeadline == 0 else {
            _ = wps_close(socket.fd)
            return nil
        }
        return register(fd: socket.fd, accepted: false)
    }

    @discardableResult
    func register(fd: Int32, accepted: Bool = true, events: UInt32 = UInt32(WPS_EPOLLIN | WPS_EPOLLRDHUP)) -> Connection? {
        let slot = allocateSlot(.free)
        let connection = Connection(loop: self, fd: fd, slot: slot, generation: slots[Int(slot)].generation)
        slots[Int(slot)].kind = .connection(connection)
        let rc = wps_epoll_add(epollFD, fd, events, token(slot))
        guard rc == 0 else {
            _ = wps_close(fd)
            freeSlot(slot)
            return nil
        }
        connectionCount += 1
        if accepted {
            connection.handler = acceptHandler?(connection)
            if connection.handler == nil { connection.abort() }
        }
        return connection
    }

    func resumeListenerIfDue() {
        guard listenerPausedUntil != 0, now >= listenerPausedUntil else { return }
        listenerPausedUntil = 0
        if listenFD >= 0 {
            _ = wps_epoll_add(epollFD, listenFD, UInt32(WPS_EPOLLIN), token(listenSlot))
        }
    }

    func closeListener() {
        guard listenFD >= 0 else { return }
        _ = wps_epoll_del(epollFD, listenFD)
        _ = wps_close(listenFD)
        freeSlot(listenSlot)
        listenFD = -1
        listenerPausedUntil = 0
    }

    func readable(_ connection: Connection) {
        // A few reads per wakeup keeps one busy peer from starving the rest of the loop.
        for _ in 0..<4 {
            guard connection.state != .closed else { return }
            let count = wps_read(connection.fd, readBuffer.baseAddress, readBuffer.count)
            if count > 0 {
                if connection.state == .open {
                    connection.handler?.received(
                        UnsafeMutableRawBufferPointer(rebasing: readBuffer[0..<count]), on: connection)
                }
                if count < readBuffer.count { return }
            } else if count == 0 {
                peerClosed(connection)
                return
            } else if count == -EAGAIN {
                return
            } else {
                scheduleClose(connection)
                return
            }
        }
    }

    func peerClosed(_ connection: Connection) {
        switch connection.state {
        case .open:
            // Stop reading: a level-triggered EOF would otherwise wake us forever.
            updateInterest(connection, reading: false)
            connection.handler?.receivedEOF(on: connection)
        case .closing:
            updateInterest(connection, reading: false)
        case .lingering, .connecting:
            scheduleClose(connection)
        case .closed:
            break
        }
    }

    func updateInterest(_ connection: Connection, reading: Bool) {
        var interest: Int32 = reading ? Int32(WPS_EPOLLIN | WPS_EPOLLRDHUP) : 0
        if connection.wantsWritable { interest |= Int32(WPS_EPOLLOUT) }
        connection.isReading = reading
        _ = wps_epoll_mod(epollFD, connection.fd, UInt32(interest), token(connection.slot))
    }

    func setWritableInterest(_ connection: Connection, _ wanted: Bool) {
        guard connection.wantsWritable != wanted else { return }
        connection.wantsWritable = wanted
        updateInterest(connection, reading: connection.isReading)
    }

    /// Writes as much of the connection's queue as the kernel takes.
    func flush(_ connection: Connection) {
        guard connection.state != .closed, connection.state != .connecting else { return }
        while !connection.outbound.isEmpty {
            let count = connection.outbound.gather(into: iovecs, max: Self.maxIovecs)
            var offered = 0
            for position in 0..<count { offered += iovecs[position].iov_len }
            let written = wps_writev(connection.fd, iovecs, Int32(count))
            if written > 0 {
                connection.outbound.consume(written)
                if written < offered {
                    setWritableInterest(connection, true)
                    return
                }
            } else if written == -EAGAIN {
                setWritableInterest(connection, true)
                return
            } else {
                scheduleClose(connection)
                return
            }
        }
        if connection.wantsWritable { setWritableInterest(connection, false) }
        if connection.state == .closing {
            _ = wps_shutdown_write(connection.fd)
            if !connection.isReading {
                scheduleClose(connection)
            } else {
                connection.state = .lingering
            }
        }
    }

    func scheduleClose(_ connection: Connection) {
        guard connection.state != .closed else { return }
        connection.state = .closed
        closing.append(connection)
    }

    func release(_ connection: Connection) {
        _ = wps_epoll_del(epollFD, connection.fd)
        if let handoff = connection.handoff {
            freeSlot(connection.slot)
            connectionCount -= 1
            connection.handler = nil
            connection.handoff = nil
            handoff(DetachedSocket(fd: connection.fd))
            return
        }
        _ = wps_close(connection.fd)
        freeSlot(connection.slot)
        connection.outbound.removeAll()
        connectionCount -= 1
        let handler = connection.handler
        connection.handler = nil
        handler?.closed(connection)
    }
}
