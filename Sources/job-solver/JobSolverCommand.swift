import ArgumentParser
import Dispatch
import Glibc
import WPSClient
import WPSJobs

/// Runs jobs offered in the dispatch group (protocol-spec/jobs.md).
@main
struct JobSolverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job-solver",
        abstract: "Picks up jobs published through wps-server and runs their steps.")

    @Option(help: "wps-server base URL, e.g. http://127.0.0.1:8080.")
    var server: String

    @Option(help: "The server's /negotiate key (default: $WPS_NEGOTIATE_KEY).")
    var negotiateKey: String?

    @Option(help: "The hub.")
    var hub: String = JobGroups.defaultHub

    @Option(help: "This solver's name (its userId); default solver-<pid>.")
    var name: String?

    @Option(help: "Jobs run at once.")
    var concurrency: Int = 1

    @Option(help: "Seconds each step takes (fractions allowed).")
    var stepSeconds: Double = 2

    @Option(help: "Seconds a claim waits for its assignment.")
    var claimTimeout: Double = 5

    @Option(help: "Seconds between heartbeats of a running job.")
    var heartbeatSeconds: Double = 2

    @Option(help: "Seconds a finished job's connection stays open to answer a resync.")
    var lingerSeconds: Double = 10

    func validate() throws {
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard stepSeconds >= 0, claimTimeout > 0, heartbeatSeconds > 0, lingerSeconds >= 0 else {
            throw ValidationError("times must be positive")
        }
    }

    func run() async throws {
        guard let key = negotiateKey ?? Console.environment("WPS_NEGOTIATE_KEY") else {
            Console.error("job-solver: no negotiate key (--negotiate-key or WPS_NEGOTIATE_KEY)")
            Console.exit(1)
        }
        var settings = SolverConfiguration(name: name ?? "solver-\(getpid())")
        settings.concurrency = concurrency
        settings.claimTimeout = .seconds(claimTimeout)
        settings.heartbeatInterval = .seconds(heartbeatSeconds)
        settings.linger = .seconds(lingerSeconds)
        let shell = SolverShell(
            server: JobServer(url: server, negotiateKey: key, hub: hub), settings: settings,
            stepDuration: .seconds(stepSeconds))
        await shell.run()
    }
}

/// Everything the solver's state machine asks for, fed back as inputs on one stream.
enum SolverInput: Sendable {
    case dispatch(ClientEvent)
    case job(String, serial: Int, ClientEvent)
    case opened(String, serial: Int)
    case openFailed(String, serial: Int, String)
    case stepDone(String, index: Int)
    case acked(String, serial: Int)
    case sendFailed(String, String)
    case tick
    case shutdown(Int32)
}

/// The I/O around `SolverStateMachine`: connections, step timers, signals, log lines.
final class SolverShell {
    let server: JobServer
    let settings: SolverConfiguration
    let stepDuration: Duration
    let clock = ContinuousClock()
    let origin: ContinuousClock.Instant
    var machine: SolverStateMachine
    var connections: [String: (serial: Int, connection: JobConnection)] = [:]
    var closing: [JobConnection] = []
    var steps: [String: Task<Void, Never>] = [:]
    var serial = 0
    let inputs: AsyncStream<SolverInput>
    let input: AsyncStream<SolverInput>.Continuation
    var signalSources: [any DispatchSourceSignal] = []

    init(server: JobServer, settings: SolverConfiguration, stepDuration: Duration) {
        self.server = server
        self.settings = settings
        self.stepDuration = stepDuration
        machine = SolverStateMachine(configuration: settings)
        origin = clock.now
        (inputs, input) = AsyncStream<SolverInput>.makeStream(bufferingPolicy: .unbounded)
    }

    var now: Duration { clock.now - origin }

    func log(_ event: String, _ id: String, _ detail: String) {
        Console.line("\(Console.timestamp()) \(settings.name) \(event) \(id) \(detail)")
    }

    func run() async {
        let input = self.input
        for signalNumber in [SIGTERM, SIGINT] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { input.yield(.shutdown(signalNumber)) }
            source.resume()
            signalSources.append(source)
        }
        let dispatch = JobConnection(server: server, userId: settings.name, group: JobGroups.dispatch)
        do {
            try await dispatch.start(acked: {}, failed: { _ in })
        } catch {
            Console.error("job-solver: cannot connect to \(server.url): \(error)")
            Console.exit(1)
        }
        log("ready", "-", "concurrency \(settings.concurrency), step \(stepDuration)")
        Task {
            for await event in dispatch.client.events { input.yield(.dispatch(event)) }
        }
        Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(50))
                input.yield(.tick)
            }
        }
        for await next in inputs {
            if case .shutdown(let signalNumber) = next {
                await shutDown(dispatch: dispatch, signal: signalNumber)
                return
            }
            perform(handle(next))
        }
    }

    func handle(_ next: SolverInput) -> [SolverAction] {
        switch next {
        case .dispatch(let event):
            switch jobMessage(in: event) {
            case .success(.job(let job)):
                return machine.receivedOffer(job, now: now)
            case .failure(let error):
                log("bad-message", JobGroups.dispatch, error.reason)
            default:
                report(event, JobGroups.dispatch)
            }
            return []
        case .job(let id, let serial, let event):
            guard connections[id]?.serial == serial else { return [] }
            switch jobMessage(in: event) {
            case .success(let message):
                guard message.correlationId == id else { return [] }
                return machine.received(message, now: now)
            case .failure(let error):
                log("bad-message", id, error.reason)
            case nil:
                report(event, id)
            }
            return []
        case .opened(let id, let serial):
            guard connections[id]?.serial == serial else { return [] }
            return machine.jobConnectionOpened(id, now: now)
        case .openFailed(let id, let serial, let reason):
            guard connections[id]?.serial == serial else { return [] }
            return machine.jobConnectionFailed(id, reason: reason)
        case .stepDone(let id, let index):
            steps[id] = nil
            return machine.stepFinished(id, index: index, now: now)
        case .acked(let id, let serial):
            if connections[id]?.serial == serial { machine.acknowledged(id, now: now) }
            return []
        case .sendFailed(let id, let reason):
            log("send-failed", id, reason)
            return []
        case .tick:
            return machine.tick(now: now)
        case .shutdown:
            return []
        }
    }

    func report(_ event: ClientEvent, _ where: String) {
        switch event {
        case .connected(let id, _): log("connected", `where`, id)
        case .disconnected(let message): log("disconnected", `where`, message ?? "")
        default: break
        }
    }

    func perform(_ actions: [SolverAction]) {
        for action in actions {
            switch action {
            case .openJobConnection(let job):
                open(job)
            case .send(let id, let message):
                connections[id]?.connection.send(message)
            case .closeJobConnection(let id):
                if let entry = connections.removeValue(forKey: id) {
                    entry.connection.close()
                    closing.append(entry.connection)
                }
            case .runStep(let id, let index, _):
                let input = self.input
                let duration = stepDuration
                steps[id]?.cancel()
                steps[id] = Task {
                    try? await Task.sleep(for: duration)
                    if !Task.isCancelled { input.yield(.stepDone(id, index: index)) }
                }
            case .stopStep(let id):
                steps.removeValue(forKey: id)?.cancel()
            case .log(let event, let id, let detail):
                log(event, id, detail)
            }
        }
        if closing.count > 64 { closing.removeFirst(closing.count - 64) }
    }

    func open(_ job: Job) {
        serial += 1
        let serial = self.serial
        let id = job.correlationId
        let connection = JobConnection(server: server, userId: settings.name, group: JobGroups.job(id))
        connections[id] = (serial, connection)
        let input = self.input
        Task {
            do {
                try await connection.start(
                    acked: { input.yield(.acked(id, serial: serial)) },
                    failed: { input.yield(.sendFailed(id, $0)) })
            } catch {
                input.yield(.openFailed(id, serial: serial, "\(error)"))
                return
            }
            input.yield(.opened(id, serial: serial))
            for await event in connection.client.events { input.yield(.job(id, serial: serial, event)) }
        }
    }

    /// Releases running jobs, closes every connection (bounded) and exits 0.
    func shutDown(dispatch: JobConnection, signal: Int32) async {
        log("stopping", "-", signal == SIGTERM ? "SIGTERM" : "SIGINT")
        perform(machine.shutdown(now: now))
        let pending = closing
        await withDeadline(.seconds(5)) {
            await withTaskGroup(of: Void.self) { group in
                for connection in pending { group.addTask { await connection.closed() } }
                group.addTask { await dispatch.client.stop() }
            }
        }
        log("stopped", "-", "")
        Console.exit(0)
    }
}
