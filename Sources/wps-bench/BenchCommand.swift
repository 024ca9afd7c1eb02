import ArgumentParser
import Glibc
import WPSLoop

/// `wps-bench`: load generator and meter for a running wps-server on this machine.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wps-bench",
        abstract:
            "Measures a running wps-server over loopback: fanout, chat, idle, churn or upstream; floor, churn-floor and wakeup need no server; upstream-handler is the event handler for upstream.",
        discussion: """
            Prints one JSON document per run on standard output (or appends it to --json-out) \
            and a human table on standard error. Every run stops by itself: the whole process \
            is ended by SIGALRM after --duration plus a fixed margin.
            """)

    @Argument(
        help: """
            Workload: fanout, chat, idle or churn; or upstream: user-event round trips through the \
            server's event handler (start the server with --event-handler \
            http://127.0.0.1:PORT/{event} pointing at upstream-handler); or upstream-handler: that \
            handler, on --threads loops listening on 127.0.0.1:--port (0: a free port, printed), \
            answering 204 (200 with --reply-bytes of text for events named reply…) until SIGTERM \
            or --duration; or floor: the fan-out write pattern from a plain \
            writer thread to loopback sockets, with no server (the kernel's share alone); or \
            churn-floor: the churn cycle answered by a plain responder thread with the server's \
            bytes and system calls and no server logic; or wakeup: what a thread's sleep and \
            wake-up cost here, two threads passing a byte through pipes across cores and on one \
            core (--count round trips, 20,000 by default).
            """)
    var workload: String

    @Option(help: "Server port on 127.0.0.1 (not used by the floors).") var port: Int?
    @Option(help: "The server's access key (signs client and REST tokens; not used by the floors).")
    var accessKey: String?
    @Option(help: "Server process id, for CPU and memory from /proc.") var serverPid: Int32?
    @Option(
        help: """
            fanout on a cluster: the ports of the nodes subscribers connect to, comma-separated, \
            taken in turn (the publisher stays on --port; default: --port alone).
            """)
    var subscriberPorts: String?
    @Option(
        help: """
            fanout on a cluster: process ids of the other nodes, comma-separated; their CPU is \
            added to --server-pid's in the server figures and listed per node.
            """)
    var nodePids: String?
    @Option(help: "fanout on a cluster: the redis-server process id, for its CPU per publish from /proc.")
    var redisPid: Int32?
    @Option(help: "Hub name.") var hub = "bench"
    @Option(help: "Subprotocol: json or reliable.") var subprotocol = "json"
    @Option(help: "Bench event-loop threads.") var threads = 2
    @Option(help: "Measured seconds (publishing, chatting, holding or churning).") var duration = 10.0
    @Option(help: "Payload bytes per publish (at least the stamp, about 60).") var payloadBytes = 100
    @Option(help: "Payload padding: x (one repeated letter) or text (words; compresses like JSON text).")
    var payloadStyle = "x"
    @Flag(help: "Connect with TLS (wss/https) without verifying the certificate (loopback, self-signed).")
    var tls = false
    @Flag(help: "Offer permessage-deflate; subscribers inflate what the server compresses.")
    var deflate = false
    @Option(help: "fanout: subscribers in the group.") var subscribers = 1000
    @Option(help: "fanout: publisher, ws (sendToGroup) or rest (POST …/groups/{g}/:send).") var publisher = "ws"
    @Option(help: "fanout: publishes per second; floor: rounds per second; 0 means saturation.") var rate = 0.0
    @Option(help: "fanout saturation: un-acked publishes in flight (REST: connections).") var window = 64
    @Option(help: "fanout and floor saturation: publishes (frames) not yet delivered everywhere.")
    var deliveryWindow = 256
    @Option(help: "floor saturation: frames per write (per socket per round).") var batch = 16
    @Option(
        help:
            "Reliable subscribers send sequenceAck when the id moved this far (Azure's JS client acks at 300 or after 1 s, the Python and .NET clients once a second)."
    ) var sequenceAckEvery = 300
    @Option(help: "fanout: stop after this many publishes, floor: rounds (0: run for --duration).") var count = 0
    @Option(help: "chat: groups of 10 members.") var groups = 10
    @Option(help: "chat: publishes per second per member.") var memberRate = 10.0
    @Option(help: "idle: connections, each in its own group.") var connections = 10_000
    @Option(help: "churn: concurrent connect/join/leave/close loops.") var churners = 16
    @Option(help: "upstream: clients, each with its own connection.") var clients = 50
    @Option(help: "upstream: event requests with ack ids each client keeps in flight.") var inFlight = 1
    @Flag(help: "upstream: send events named reply, which the handler answers with a body (sent before the ack).")
    var reply = false
    @Option(help: "upstream: the upstream-handler's process id, for its CPU from /proc.") var handlerPid: Int32?
    @Option(help: "upstream-handler: bytes of the text body answered to reply events.") var replyBytes = 16
    @Option(help: "Local source addresses 127.0.0.1…N to spread connections over.") var sources = 1
    @Option(
        help:
            "churn-floor: responder threads, each with its own listener on the shared port, as the server's loops have."
    ) var responders = 1
    @Option(
        help: """
            churn-floor: how a responder closes after the client's close frame: linger (echo, shut \
            the write side, drain until the client's FIN: the server since 38c0180), corked (the \
            same with the FIN in the echo's segment) or immediate (echo and FIN together, then \
            close at once: the server before).
            """)
    var floorClose = "linger"
    @Option(help: "A label copied into the JSON document.") var label = ""
    @Option(
        help: "fanout: once connected, create <path>.ready and wait (up to 60 s) for <path> before publishing.")
    var waitForFile: String?
    @Option(help: "Append the JSON document to this file instead of printing it.") var jsonOut: String?

    func validate() throws {
        guard
            ["fanout", "chat", "idle", "churn", "upstream", "upstream-handler", "floor", "churn-floor", "wakeup"]
                .contains(workload)
        else {
            throw ValidationError("unknown workload '\(workload)'")
        }
        if !["floor", "churn-floor", "wakeup", "upstream-handler"].contains(workload) {
            guard port != nil else { throw ValidationError("--port is required for \(workload)") }
            guard accessKey != nil else { throw ValidationError("--access-key is required for \(workload)") }
        }
        guard batch >= 1, batch <= 1024 else { throw ValidationError("batch: 1…1024") }
        guard ["json", "reliable"].contains(subprotocol) else { throw ValidationError("subprotocol: json or reliable") }
        guard ["ws", "rest"].contains(publisher) else { throw ValidationError("publisher: ws or rest") }
        guard duration > 0, duration <= 600 else { throw ValidationError("duration: 0 < seconds <= 600") }
        guard payloadBytes >= 64, payloadBytes <= 65_536 else { throw ValidationError("payload-bytes: 64…65536") }
        guard sources >= 1, sources <= 250 else { throw ValidationError("sources: 1…250") }
        guard clients >= 1, clients <= 10_000 else { throw ValidationError("clients: 1…10000") }
        guard inFlight >= 1, inFlight <= 1024 else { throw ValidationError("in-flight: 1…1024") }
        guard replyBytes >= 1, replyBytes <= 65_536 else { throw ValidationError("reply-bytes: 1…65536") }
        guard responders >= 1, responders <= 64 else { throw ValidationError("responders: 1…64") }
        guard ChurnResponder.CloseStyle(rawValue: floorClose) != nil else {
            throw ValidationError("floor-close: linger, corked or immediate")
        }
        if subscriberPorts != nil || nodePids != nil || redisPid != nil {
            guard workload == "fanout" else {
                throw ValidationError("--subscriber-ports, --node-pids and --redis-pid are for fanout")
            }
        }
        if let subscriberPorts {
            guard let ports = Self.numbers(subscriberPorts, Int.self), !ports.isEmpty,
                ports.allSatisfy({ $0 > 0 && $0 < 65_536 })
            else { throw ValidationError("subscriber-ports: comma-separated ports") }
        }
        if let nodePids {
            guard let pids = Self.numbers(nodePids, Int32.self), pids.allSatisfy({ $0 > 0 }) else {
                throw ValidationError("node-pids: comma-separated process ids")
            }
            guard serverPid != nil else { throw ValidationError("--node-pids needs --server-pid") }
        }
        guard BenchPayload.PayloadStyle(rawValue: payloadStyle) != nil else {
            throw ValidationError("payload-style: x or text")
        }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        // The global deadline: however a run goes wrong, the process ends.
        alarm(UInt32(duration) + 150)
        let wanted = workload == "idle" ? connections + 1024 : 8192
        let limit = ProcessControl.raiseOpenFileLimit(wanted)
        if limit < wanted { Self.writeError("wps-bench: open-file limit is \(limit), wanted \(wanted)\n") }

        var options = BenchOptions(
            workload: workload, port: port ?? 0, accessKey: accessKey ?? "",
            serverPID: workload.hasSuffix("floor") || workload == "wakeup" || workload == "upstream-handler"
                ? nil : serverPid)
        options.hub = hub
        options.reliable = subprotocol == "reliable"
        options.threads = threads
        options.durationSeconds = duration
        options.payloadBytes = payloadBytes
        options.payloadStyle = BenchPayload.PayloadStyle(rawValue: payloadStyle) ?? .x
        options.tls = tls
        options.deflate = deflate
        options.subscribers = subscribers
        options.publisher = publisher
        options.rate = rate
        options.window = window
        options.deliveryWindow = deliveryWindow
        options.batch = batch
        options.sequenceAckEvery = max(1, sequenceAckEvery)
        options.count = count
        options.groups = groups
        options.memberRate = memberRate
        options.connections = connections
        options.churners = churners
        options.sources = sources
        options.responders = responders
        options.floorClose = ChurnResponder.CloseStyle(rawValue: floorClose) ?? .linger
        options.clients = clients
        options.inFlight = inFlight
        options.reply = reply
        options.handlerPID = handlerPid
        options.replyBytes = replyBytes
        options.label = label
        options.waitForFile = waitForFile
        options.subscriberPorts = subscriberPorts.flatMap { Self.numbers($0, Int.self) } ?? []
        options.nodePIDs = nodePids.flatMap { Self.numbers($0, Int32.self) } ?? []
        options.redisPID = redisPid

        var runner = BenchRunner(options: options, probe: options.serverPID.map { ServerProbe(pid: $0) })
        if options.serverPID != nil { runner.nodeProbes = options.nodePIDs.map { ServerProbe(pid: $0) } }
        runner.redisProbe = options.redisPID.map { ServerProbe(pid: $0) }
        let result = try runner.run()
        Self.writeError("wps-bench \(workload) (\(label.isEmpty ? subprotocol : label))\n\(result.table)\n")
        let line = result.json + "\n"
        if let jsonOut {
            let fd = open(jsonOut, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw ValidationError("cannot open \(jsonOut)") }
            _ = line.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
            close(fd)
        } else {
            print(line, terminator: "")
        }
    }

    /// A comma-separated list of integers, or nil when any item is not one.
    static func numbers<Number: FixedWidthInteger>(_ text: String, _: Number.Type) -> [Number]? {
        var out: [Number] = []
        for item in text.split(separator: ",") {
            guard let number = Number(String(item.filter { $0 != " " })) else { return nil }
            out.append(number)
        }
        return out
    }

    /// Writes `text` to standard output unbuffered (a line a script waits for).
    static func writeOut(_ text: String) {
        _ = text.utf8CString.withUnsafeBufferPointer { write(1, $0.baseAddress, $0.count - 1) }
    }

    /// Writes `text` to standard error unbuffered.
    static func writeError(_ text: String) {
        _ = text.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
    }
}
