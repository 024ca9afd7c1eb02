import CWPSLinux
import Glibc

extension EventLoop {
    func acceptConnections(_ tag: Int) {
        guard tag < listeners.count, listeners[tag].fd >= 0 else { return }
        // Accept as many as the queue holds, asked first: an accept that finds the queue
        // empty costs several times the question, since Linux makes the new socket and file
        // before it looks. Later arrivals keep the listener ready for the next turn.
        var budget = Self.acceptsPerWakeup
        let pending = wps_accept_backlog(listeners[tag].fd)
        if pending >= 0 { budget = min(budget, max(Int(pending), 1)) }
        for _ in 0..<budget {
            let fd = wps_accept(listeners[tag].fd)
            if fd == -EAGAIN { return }
            if fd < 0 {
                if fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM {
                    // Out of descriptors: stop listening briefly instead of spinning on a
                    // level-triggered listener that cannot be drained.
                    for listener in listeners where listener.fd >= 0 { _ = wps_epoll_del(epollFD, listener.fd) }
                    listenerPausedUntil = now + Self.acceptPauseNanos
                    acceptPaused?(-fd)
                }
                return
            }
            register(fd: fd, listener: tag)
        }
    }

    /// Starts a non-blocking connect to `host:port` (numeric or resolvable); `handler` hears
    /// `connected`, or `closed` if it fails. Bytes sent before that are queued. Returns nil
    /// when the attempt fails at once.
    public func connect(host: String, port: Int, handler: ConnectionHandler) -> Connection? {
        let fd = wps_connect_tcp(host, Int32(port))
        guard fd >= 0 else { return nil }
        return registerConnecting(fd: fd, handler: handler)
    }

    /// Like `connect(host:port:handler:)`, from the local address `sourceHost` (for example
    /// one of several 127.0.0.x addresses when one address runs out of ephemeral ports).
    public func connect(host: String, port: Int, sourceHost: String, handler: ConnectionHandler) -> Connection? {
        let fd = wps_connect_tcp_from(host, Int32(port), sourceHost)
        guard fd >= 0 else { return nil }
        return registerConnecting(fd: fd, handler: handler)
    }

    private func registerConnecting(fd: Int32, handler: ConnectionHandler) -> Connection? {
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
        // Queued bytes, or a transform's first words (a TLS ClientHello), go out now.
        if !connection.outbound.isEmpty || (connection.transform?.pendingOutput ?? 0) > 0 { flush(connection) }
    }

    /// Registers a socket detached from another loop; the caller installs its handler.
    public func adopt(_ socket: DetachedSocket) -> Connection? {
        guard shutdownDeadline == 0 else {
            _ = wps_close(socket.fd)
            return nil
        }
        let connection = register(fd: socket.fd, accepted: false)
        connection?.transform = socket.transform
        return connection
    }

    /// Registers a connected stream socket this loop did not accept (one end of a
    /// `socketpair`, a descriptor handed over by another process); the caller installs its
    /// handler. The loop owns `fd` from now on, closes it with the connection, and makes it
    /// non-blocking, since it never waits on a socket. Returns nil, with `fd` closed, when
    /// the loop is shutting down or epoll refuses the descriptor.
    public func adopt(fd: Int32) -> Connection? {
        let flags = fcntl(fd, F_GETFL)
        guard shutdownDeadline == 0, flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else {
            _ = wps_close(fd)
            return nil
        }
        return register(fd: fd, accepted: false)
    }

    @discardableResult
    func register(
        fd: Int32, accepted: Bool = true, listener: Int = -1, events: UInt32 = UInt32(WPS_EPOLLIN | WPS_EPOLLRDHUP)
    ) -> Connection? {
        let slot = allocateSlot(.free)
        let connection = Connection(
            loop: self, fd: fd, slot: slot, generation: slots[Int(slot)].generation, listener: listener)
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
        for listener in listeners where listener.fd >= 0 {
            _ = wps_epoll_add(epollFD, listener.fd, UInt32(WPS_EPOLLIN), token(listener.slot))
        }
    }

    func closeListener() {
        for index in listeners.indices where listeners[index].fd >= 0 {
            _ = wps_epoll_del(epollFD, listeners[index].fd)
            _ = wps_close(listeners[index].fd)
            freeSlot(listeners[index].slot)
            listeners[index].fd = -1
        }
        listenerPausedUntil = 0
    }

    /// Reads of one socket per wakeup: a few keep one busy peer from starving the rest of
    /// the loop, while a burst still arrives in one turn.
    static let readsPerWakeup = 4

    func readable(_ connection: Connection) {
        for _ in 0..<Self.readsPerWakeup {
            guard connection.state != .closed else { return }
            let count = wps_recv(connection.fd, readBuffer.baseAddress, readBuffer.count)
            if count > 0 {
                let bytes = UnsafeMutableRawBufferPointer(rebasing: readBuffer[0..<count])
                if let transform = connection.transform {
                    if !connection.deferredInput.isEmpty {
                        // Older bytes wait for the next turn; these queue behind them.
                        connection.deferredInput.append(contentsOf: UnsafeRawBufferPointer(bytes))
                        return
                    }
                    guard transformInbound(connection, transform, bytes) else { return }
                } else if connection.state == .open {
                    connection.handler?.received(bytes, on: connection)
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

    /// Runs input through the connection's transform; false when reading must stop now.
    func transformInbound(
        _ connection: Connection, _ transform: StreamTransform, _ bytes: UnsafeMutableRawBufferPointer
    ) -> Bool {
        let status = transform.inbound(bytes) { plain in
            if connection.state == .open { connection.handler?.received(plain, on: connection) }
        }
        // Handshake records, alerts or tickets may be waiting to go out.
        if transform.pendingOutput > 0, connection.state != .closed { connection.markDirty() }
        switch status {
        case .ok:
            return true
        case .later:
            connection.deferredInput.append(contentsOf: UnsafeRawBufferPointer(bytes))
            retryInput.append(connection)
            return false
        case .failed:
            // Send what the transform wrote last (a TLS alert) if the socket takes it now.
            if transform.pendingOutput > 0 {
                transform.takeOutput { connection.encoded.append($0) }
                _ = write(connection, queue: &connection.encoded)
            }
            scheduleClose(connection)
            return false
        case .finished:
            peerClosed(connection)
            return false
        }
    }

    func retryDeferredInput() {
        let batch = retryInput
        retryInput.removeAll(keepingCapacity: true)
        for connection in batch where connection.state != .closed {
            guard let transform = connection.transform, !connection.deferredInput.isEmpty else { continue }
            var input = connection.deferredInput
            connection.deferredInput = []
            _ = input.withUnsafeMutableBytes { transformInbound(connection, transform, $0) }
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
        if let transform = connection.transform {
            repeat {
                encode(connection, transform)
                guard connection.state != .closed, write(connection, queue: &connection.encoded) else { return }
            } while !connection.outbound.isEmpty || transform.pendingOutput > 0
        } else {
            guard write(connection, queue: &connection.outbound) else { return }
        }
        if connection.wantsWritable { setWritableInterest(connection, false) }
        if connection.state == .closing {
            if !connection.lingers {
                scheduleClose(connection)
                return
            }
            _ = wps_shutdown_write(connection.fd)
            if !connection.isReading {
                scheduleClose(connection)
            } else {
                connection.state = .lingering
            }
        }
    }

    /// Moves plaintext through the transform, but only while little ciphertext waits: the
    /// backlog stays plaintext, where urgent frames can still be put ahead of it.
    func encode(_ connection: Connection, _ transform: StreamTransform) {
        while !connection.outbound.isEmpty, connection.encoded.byteCount < Self.encodedHighWater,
            connection.state != .closed
        {
            let count = connection.outbound.gather(into: iovecs, max: Self.maxIovecs)
            var taken = 0
            var batched = 0
            let batch = transformBatch.baseAddress!
            for position in 0..<count {
                let region = UnsafeRawBufferPointer(start: iovecs[position].iov_base, count: iovecs[position].iov_len)
                if batched + region.count <= Self.transformBatchBytes {
                    (batch + batched).copyMemory(from: region.baseAddress!, byteCount: region.count)
                    batched += region.count
                    continue
                }
                // The batch is full: send it, then this region on its own when it is large.
                if batched > 0 {
                    guard transform.outbound(UnsafeRawBufferPointer(start: batch, count: batched)) else {
                        scheduleClose(connection)
                        return
                    }
                    taken += batched
                    batched = 0
                }
                if region.count >= Self.transformBatchBytes / 2 {
                    guard transform.outbound(region) else {
                        scheduleClose(connection)
                        return
                    }
                    taken += region.count
                } else {
                    batch.copyMemory(from: region.baseAddress!, byteCount: region.count)
                    batched = region.count
                }
            }
            if batched > 0 {
                guard transform.outbound(UnsafeRawBufferPointer(start: batch, count: batched)) else {
                    scheduleClose(connection)
                    return
                }
                taken += batched
            }
            connection.outbound.consume(taken)
            transform.takeOutput { emit(connection, $0) }
        }
        if connection.state == .closing, connection.outbound.isEmpty, !connection.transformFinished {
            connection.transformFinished = true
            transform.finish()
        }
        if transform.pendingOutput > 0 { transform.takeOutput { emit(connection, $0) } }
    }

    /// Sends transform output (ciphertext) straight from the transform's buffer when nothing
    /// waits before it; only what the kernel does not take is copied into `encoded`. Saves a
    /// copy of every record, and an allocation for those larger than a block.
    func emit(_ connection: Connection, _ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        guard connection.encoded.isEmpty, connection.state != .closed, connection.state != .connecting else {
            connection.encoded.append(bytes)
            return
        }
        let written = wps_send(connection.fd, base, bytes.count)
        if written == bytes.count { return }
        if written > 0 {
            connection.encoded.append(UnsafeRawBufferPointer(rebasing: bytes[written...]))
        } else if written == -EAGAIN {
            connection.encoded.append(bytes)
        } else {
            scheduleClose(connection)
        }
    }

    /// Writes `queue` until it is empty (true) or the socket is full or broken (false).
    func write(_ connection: Connection, queue: inout OutboundQueue) -> Bool {
        while !queue.isEmpty {
            let count = queue.gather(into: iovecs, max: Self.maxIovecs)
            var offered = 0
            for position in 0..<count { offered += iovecs[position].iov_len }
            // Before a close that does not linger, the FIN can share the last segment.
            let written =
                !connection.lingers
                ? wps_writev_last(connection.fd, iovecs, Int32(count))
                : count == 1
                    ? wps_send(connection.fd, iovecs[0].iov_base, iovecs[0].iov_len)
                    : wps_writev(connection.fd, iovecs, Int32(count))
            if written > 0 {
                queue.consume(written)
                if written < offered {
                    setWritableInterest(connection, true)
                    return false
                }
            } else if written == -EAGAIN {
                setWritableInterest(connection, true)
                return false
            } else {
                scheduleClose(connection)
                return false
            }
        }
        return true
    }

    func scheduleClose(_ connection: Connection) {
        guard connection.state != .closed else { return }
        connection.state = .closed
        closing.append(connection)
    }

    func release(_ connection: Connection) {
        if let handoff = connection.handoff {
            // The socket lives on in another loop: it must leave this epoll set. A closed one
            // leaves by itself when `close` drops its last reference, so that costs no call.
            _ = wps_epoll_del(epollFD, connection.fd)
            freeSlot(connection.slot)
            connectionCount -= 1
            connection.handler = nil
            connection.handoff = nil
            let transform = connection.transform
            connection.transform = nil
            handoff(DetachedSocket(fd: connection.fd, transform: transform))
            return
        }
        _ = wps_close(connection.fd)
        freeSlot(connection.slot)
        connection.outbound.removeAll()
        connection.encoded.removeAll()
        connection.transform = nil
        connectionCount -= 1
        let handler = connection.handler
        connection.handler = nil
        handler?.closed(connection)
    }
}
