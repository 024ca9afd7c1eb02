/// Settings of a solver (protocol-spec/jobs.md §5).
public struct SolverConfiguration: Sendable, Equatable {
    /// The solver's name: its userId and the prefix of its claim ids.
    public var name: String
    /// Jobs run (or claimed) at once.
    public var concurrency: Int = 1
    /// A claim not answered by an assignment within this time is dropped (the slot freed).
    public var claimTimeout: Duration = .seconds(5)
    /// Heartbeat period while running (at most a third of the scheduler's lease).
    public var heartbeatInterval: Duration = .seconds(2)
    /// How long a finished job's connection stays open to answer `sync`.
    public var linger: Duration = .seconds(10)

    /// Creates a configuration.
    public init(name: String) { self.name = name }
}

/// What the solver's shell must do.
public enum SolverAction: Sendable, Equatable {
    /// Connect to the job's group; then call `jobConnectionOpened` or `jobConnectionFailed`.
    case openJobConnection(Job)
    /// Publish to the job's group, in order after earlier sends of that job.
    case send(correlationId: String, JobMessage)
    /// Close the job's connection once the sends queued before it are done.
    case closeJobConnection(correlationId: String)
    /// Start step `index` (sleep/work); then call `stepFinished`.
    case runStep(correlationId: String, index: Int, step: String)
    /// Interrupt the running step of the job.
    case stopStep(correlationId: String)
    /// One log line: an event name, the job, details.
    case log(event: String, correlationId: String, detail: String)
}

/// All jobs of one solver, driven by messages and a clock; no I/O.
public struct SolverStateMachine: Sendable {
    enum Phase: Sendable, Equatable {
        case connecting(since: Duration)
        case claimed(since: Duration)
        case running(JobAssignment, index: Int, lastHeartbeat: Duration, lastAck: Duration)
        case finished(until: Duration)
    }

    struct Entry: Sendable {
        var job: Job
        var claimId: String
        var phase: Phase
        var updates: [JobMessage] = []
    }

    public let configuration: SolverConfiguration
    private var entries: [String: Entry] = [:]
    private var claims: UInt64 = 0
    private var shuttingDown = false

    /// Creates the machine.
    public init(configuration: SolverConfiguration) { self.configuration = configuration }

    /// Jobs claimed or running (finished ones do not count).
    public var busySlots: Int {
        entries.values.count { if case .finished = $0.phase { false } else { true } }
    }

    /// The correlation ids of running jobs.
    public var running: [String] {
        entries.compactMap { if case .running = $0.value.phase { $0.key } else { nil } }.sorted()
    }

    /// An offer arrived in the dispatch group.
    public mutating func receivedOffer(_ job: Job, now: Duration) -> [SolverAction] {
        guard !shuttingDown else { return [] }
        let id = job.correlationId
        if let entry = entries[id] {
            // Our own running job offered again: the scheduler lost track of us; claim it back.
            if case .running = entry.phase {
                return [
                    .send(
                        correlationId: id, .claim(correlationId: id, solver: configuration.name, claimId: entry.claimId)
                    )
                ]
            }
            return []
        }
        guard busySlots < configuration.concurrency else { return [] }
        claims += 1
        let claimId = "\(configuration.name).\(claims)"
        entries[id] = Entry(job: job, claimId: claimId, phase: .connecting(since: now))
        return [.openJobConnection(job)]
    }

    /// The job group's connection is up: claim.
    public mutating func jobConnectionOpened(_ correlationId: String, now: Duration) -> [SolverAction] {
        guard var entry = entries[correlationId], case .connecting = entry.phase else { return [] }
        entry.phase = .claimed(since: now)
        entries[correlationId] = entry
        return [
            .log(event: "claim", correlationId: correlationId, detail: "\(entry.job.name) as \(entry.claimId)"),
            .send(
                correlationId: correlationId,
                .claim(correlationId: correlationId, solver: configuration.name, claimId: entry.claimId)),
        ]
    }

    /// The job group's connection could not be opened.
    public mutating func jobConnectionFailed(_ correlationId: String, reason: String) -> [SolverAction] {
        guard entries.removeValue(forKey: correlationId) != nil else { return [] }
        return [
            .log(event: "error", correlationId: correlationId, detail: "cannot join the job group: \(reason)"),
            .closeJobConnection(correlationId: correlationId),
        ]
    }

    /// A message of the job's group arrived.
    public mutating func received(_ message: JobMessage, now: Duration) -> [SolverAction] {
        let id = message.correlationId
        guard var entry = entries[id] else { return [] }
        switch message {
        case .assign(let a) where a.claimId == entry.claimId:
            switch entry.phase {
            case .claimed, .connecting:
                entry.phase = .running(a, index: a.resumeFrom, lastHeartbeat: now, lastAck: now)
                entries[id] = entry
                var actions: [SolverAction] = [
                    .log(
                        event: "start", correlationId: id,
                        detail: "\(entry.job.name) attempt \(a.attempt) from step \(a.resumeFrom + 1)")
                ]
                actions += begin(id, index: a.resumeFrom, now: now)
                return actions
            case .running(_, let index, let beat, _):
                entry.phase = .running(a, index: index, lastHeartbeat: beat, lastAck: now)
                entries[id] = entry
                return [.log(event: "reassigned", correlationId: id, detail: "kept, attempt \(a.attempt)")]
            case .finished:
                return []
            }
        case .assign(let a):
            entries[id] = nil
            switch entry.phase {
            case .running:
                return [
                    .stopStep(correlationId: id),
                    .log(event: "stop", correlationId: id, detail: "the job went to \(a.solver)"),
                    .closeJobConnection(correlationId: id),
                ]
            case .finished:
                return [.closeJobConnection(correlationId: id)]
            case .claimed, .connecting:
                return [
                    .log(event: "lost", correlationId: id, detail: "the job went to \(a.solver)"),
                    .closeJobConnection(correlationId: id),
                ]
            }
        case .cancel:
            switch entry.phase {
            case .running(let a, let index, _, _):
                let step = index < entry.job.steps.count ? entry.job.steps[index] : JobUpdate.doneStep
                let update = JobMessage.update(
                    JobUpdate(
                        name: entry.job.name, correlationId: id, step: step, status: .cancelled, stepIndex: index,
                        claimId: a.claimId))
                entry.updates.append(update)
                entry.phase = .finished(until: now + configuration.linger)
                entries[id] = entry
                return [
                    .stopStep(correlationId: id),
                    .send(correlationId: id, update),
                    .log(event: "cancelled", correlationId: id, detail: "at step \(index + 1) \(step)"),
                ]
            case .claimed, .connecting:
                entries[id] = nil
                return [
                    .log(event: "lost", correlationId: id, detail: "cancelled before assignment"),
                    .closeJobConnection(correlationId: id),
                ]
            case .finished:
                return []
            }
        case .sync:
            switch entry.phase {
            case .running, .finished:
                return entry.updates.map { .send(correlationId: id, $0) }
            default:
                return []
            }
        default:
            return []
        }
    }

    /// Reports step `index` as started and runs it, or finishes the job after the last step.
    private mutating func begin(_ id: String, index: Int, now: Duration) -> [SolverAction] {
        guard var entry = entries[id], case .running(let a, _, let beat, let ack) = entry.phase else { return [] }
        let job = entry.job
        if index >= job.steps.count {
            let done = JobMessage.update(
                JobUpdate(
                    name: job.name, correlationId: id, step: JobUpdate.doneStep, status: .completed,
                    stepIndex: job.steps.count, claimId: a.claimId))
            entry.updates.append(done)
            entry.phase = .finished(until: now + configuration.linger)
            entries[id] = entry
            return [.send(correlationId: id, done), .log(event: "done", correlationId: id, detail: job.name)]
        }
        let update = JobMessage.update(
            JobUpdate(
                name: job.name, correlationId: id, step: job.steps[index], status: .inProgress, stepIndex: index,
                claimId: a.claimId))
        entry.updates.append(update)
        entry.phase = .running(a, index: index, lastHeartbeat: beat, lastAck: ack)
        entries[id] = entry
        return [
            .send(correlationId: id, update),
            .log(
                event: "step", correlationId: id,
                detail: "\(index + 1)/\(job.steps.count) \(job.steps[index]): In Progress"),
            .runStep(correlationId: id, index: index, step: job.steps[index]),
        ]
    }

    /// Step `index` of the job finished its work.
    public mutating func stepFinished(_ id: String, index: Int, now: Duration) -> [SolverAction] {
        guard var entry = entries[id], case .running(let a, let current, _, _) = entry.phase, current == index else {
            return []
        }
        let job = entry.job
        let update = JobMessage.update(
            JobUpdate(
                name: job.name, correlationId: id, step: job.steps[index], status: .completed, stepIndex: index,
                claimId: a.claimId))
        entry.updates.append(update)
        entries[id] = entry
        var actions: [SolverAction] = [
            .send(correlationId: id, update),
            .log(
                event: "step", correlationId: id,
                detail: "\(index + 1)/\(job.steps.count) \(job.steps[index]): Completed"),
        ]
        actions += begin(id, index: index + 1, now: now)
        return actions
    }

    /// A message of ours in the job's group was acknowledged by the server: the lease holds.
    public mutating func acknowledged(_ id: String, now: Duration) {
        guard var entry = entries[id], case .running(let a, let index, let beat, _) = entry.phase else { return }
        entry.phase = .running(a, index: index, lastHeartbeat: beat, lastAck: now)
        entries[id] = entry
    }

    /// Time passed: heartbeats, claim and lease expiry, lingering connections.
    public mutating func tick(now: Duration) -> [SolverAction] {
        var actions: [SolverAction] = []
        for id in entries.keys.sorted() {
            guard var entry = entries[id] else { continue }
            switch entry.phase {
            case .connecting(let since), .claimed(let since):
                if now - since >= configuration.claimTimeout {
                    entries[id] = nil
                    actions += [
                        .log(
                            event: "lost", correlationId: id,
                            detail: "no assignment within \(configuration.claimTimeout)"),
                        .closeJobConnection(correlationId: id),
                    ]
                }
            case .running(let a, let index, let beat, let ack):
                let lease = Duration.milliseconds(Int64(clamping: a.leaseMs))
                if a.leaseMs > 0, now - ack >= lease {
                    entries[id] = nil
                    actions += [
                        .stopStep(correlationId: id),
                        .log(event: "abandon", correlationId: id, detail: "nothing acknowledged for \(lease)"),
                        .closeJobConnection(correlationId: id),
                    ]
                    continue
                }
                var interval = configuration.heartbeatInterval
                if a.leaseMs > 0 { interval = min(interval, lease / 3) }
                if now - beat >= interval {
                    entry.phase = .running(a, index: index, lastHeartbeat: now, lastAck: ack)
                    entries[id] = entry
                    actions.append(.send(correlationId: id, .heartbeat(correlationId: id, claimId: a.claimId)))
                }
            case .finished(let until):
                if now >= until {
                    entries[id] = nil
                    actions.append(.closeJobConnection(correlationId: id))
                }
            }
        }
        return actions
    }

    /// The solver is stopping: give back running jobs so they are re-offered, drop the rest.
    public mutating func shutdown(now: Duration) -> [SolverAction] {
        shuttingDown = true
        var actions: [SolverAction] = []
        for id in entries.keys.sorted() {
            guard let entry = entries[id] else { continue }
            if case .running = entry.phase {
                actions += [
                    .stopStep(correlationId: id),
                    .send(correlationId: id, .release(correlationId: id, claimId: entry.claimId)),
                    .log(event: "release", correlationId: id, detail: entry.job.name),
                ]
            }
            actions.append(.closeJobConnection(correlationId: id))
        }
        entries = [:]
        return actions
    }
}
