import Dispatch
import Glibc
import WPSClient
import WPSJobs

/// How updates are shown.
enum SchedulerOutput {
    /// A live progress bar plus one line per update.
    case terminal
    /// One plain line per update.
    case lines
    /// One JSON object per line.
    case json
}

enum SchedulerInput: Sendable {
    case job(ClientEvent)
    case tick
    case interrupt
    case answer(String?)
    case cancel
    case sendFailed(String)
}

/// The I/O around `SchedulerStateMachine`: two connections, timers, Ctrl-C, output.
final class SchedulerShell {
    let server: JobServer
    var machine: SchedulerStateMachine
    let output: SchedulerOutput
    let cancelAfter: Duration?
    let clock = ContinuousClock()
    let origin: ContinuousClock.Instant
    let inputs: AsyncStream<SchedulerInput>
    let input: AsyncStream<SchedulerInput>.Continuation
    var jobConnection: JobConnection?
    var dispatchConnection: JobConnection?
    var prompting = false
    /// Lines held back while the cancel question waits for its answer.
    var heldLines: [String] = []
    var lostConnection = false
    var barShown = false
    var lastUpdate: JobUpdate?
    var signalSource: (any DispatchSourceSignal)?

    init(server: JobServer, machine: SchedulerStateMachine, output: SchedulerOutput, cancelAfter: Duration?) {
        self.server = server
        self.machine = machine
        self.output = output
        self.cancelAfter = cancelAfter
        origin = clock.now
        (inputs, input) = AsyncStream<SchedulerInput>.makeStream(bufferingPolicy: .unbounded)
    }

    var now: Duration { clock.now - origin }
    var job: Job { machine.job }

    func run() async {
        let input = self.input
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { input.yield(.interrupt) }
        source.resume()
        signalSource = source

        let userId = "scheduler-" + job.correlationId
        let jobConnection = JobConnection(server: server, userId: userId, group: JobGroups.job(job.correlationId))
        let dispatchConnection = JobConnection(server: server, userId: userId, group: JobGroups.dispatch)
        do {
            // The job group first, so no claim can arrive before we listen.
            try await jobConnection.start(acked: {}, failed: { input.yield(.sendFailed($0)) })
            self.jobConnection = jobConnection
            try await dispatchConnection.start(acked: {}, failed: { input.yield(.sendFailed($0)) })
            self.dispatchConnection = dispatchConnection
        } catch {
            await finish(.failed("cannot connect to \(server.url): \(error)"))
        }
        Task {
            for await event in jobConnection.client.events { input.yield(.job(event)) }
        }
        Task {
            for await _ in dispatchConnection.client.events {}  // other jobs' offers: not ours to read
        }
        Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(50))
                input.yield(.tick)
            }
        }
        if let cancelAfter {
            Task {
                try? await Task.sleep(for: cancelAfter)
                input.yield(.cancel)
            }
        }
        if output != .json {
            Console.error("job-scheduler: submitting \"\(job.name)\" (\(job.correlationId)), \(job.steps.count) steps")
        }
        await perform(machine.start(now: now))
        for await next in inputs {
            await perform(handle(next))
        }
    }

    func handle(_ next: SchedulerInput) -> [SchedulerAction] {
        switch next {
        case .job(let event):
            switch event {
            case .disconnected:
                lostConnection = true
                return []
            case .connected:
                guard lostConnection else { return [] }
                lostConnection = false
                return machine.reconnected(now: now)
            default:
                break
            }
            switch jobMessage(in: event) {
            case .success(let message): return machine.received(message, now: now)
            case .failure(let error): log("ignored a malformed message: \(error.reason)")
            case nil: break
            }
            return []
        case .tick:
            return machine.tick(now: now)
        case .interrupt:
            guard !prompting else { return [] }
            prompting = true
            clearBar()
            Console.error("")
            Glibc.write(2, "Cancel the job? (y/n) ", 22)
            let input = self.input
            DispatchQueue.global().async { input.yield(.answer(readLine())) }
            return []
        case .answer(let text):
            prompting = false
            releaseHeldLines()
            let answer = (text ?? "").trimmingSpaces().lowercased()
            if answer == "y" || answer == "yes" { return machine.cancelRequested(now: now) }
            redrawBar()
            return []
        case .cancel:
            return machine.cancelRequested(now: now)
        case .sendFailed(let reason):
            log("a send failed: \(reason)")
            return []
        }
    }

    func perform(_ actions: [SchedulerAction]) async {
        for action in actions {
            switch action {
            case .publishOffer(let job):
                dispatchConnection?.send(.job(job))
            case .sendToJob(let message):
                jobConnection?.send(message)
            case .report(let update):
                show(update)
            case .log(let text):
                log(text)
            case .finish(let outcome):
                await finish(outcome)
            }
        }
    }

    func log(_ text: String) {
        guard output != .json else { return }
        clearBar()
        Console.error("job-scheduler: " + text)
        redrawBar()
    }

    func show(_ update: JobUpdate) {
        lastUpdate = update
        switch output {
        case .json:
            Console.line(String(decoding: JobMessage.update(update).encoded(), as: UTF8.self))
        case .lines, .terminal:
            if prompting {
                heldLines.append(describe(update))
                return
            }
            clearBar()
            Console.line(describe(update))
            redrawBar()
        }
    }

    func releaseHeldLines() {
        for line in heldLines { Console.line(line) }
        heldLines = []
    }

    func describe(_ update: JobUpdate) -> String {
        if update.step == JobUpdate.doneStep { return "\(job.name): Done - \(update.status.rawValue)" }
        let index = (update.stepIndex ?? 0) + 1
        return "\(job.name): step \(index)/\(job.steps.count) \(update.step) - \(update.status.rawValue)"
    }

    func clearBar() {
        guard output == .terminal, barShown else { return }
        Console.write("\r\u{1B}[2K")
        barShown = false
    }

    func redrawBar() {
        guard output == .terminal, !prompting, !machine.isFinished else { return }
        let total = max(job.steps.count, 1)
        let width = 30
        let filled = machine.completedSteps * width / total
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        var text = "[\(bar)] \(machine.completedSteps)/\(job.steps.count)"
        if let update = lastUpdate { text += " \(update.step): \(update.status.rawValue)" }
        Console.write("\r\u{1B}[2K" + text)
        barShown = true
    }

    func finish(_ outcome: SchedulerOutcome) async -> Never {
        var outcome = outcome
        if case .failed(let reason) = outcome { outcome = .failed(Console.oneLine(reason)) }
        clearBar()
        if prompting { Console.line("") }
        releaseHeldLines()
        switch (outcome, output) {
        case (_, .json):
            var line =
                "{\"type\":\"result\",\"correlationId\":" + Console.jsonString(job.correlationId) + ",\"outcome\":"
            switch outcome {
            case .done: line += "\"done\"}"
            case .cancelled: line += "\"cancelled\"}"
            case .failed(let reason):
                line += "\"failed\",\"reason\":" + Console.jsonString(reason) + "}"
            }
            Console.line(line)
        case (.done, _): Console.line("\(job.name): done")
        case (.cancelled, _): Console.line("\(job.name): cancelled")
        case (.failed, _): break
        }
        if case .failed(let reason) = outcome { Console.error("job-scheduler: \(reason)") }
        let connections = [jobConnection, dispatchConnection].compactMap { $0 }
        await withDeadline(.seconds(2)) {
            for connection in connections {
                connection.close()
                await connection.closed()
            }
        }
        Console.exit(outcome.exitStatus)
    }
}
