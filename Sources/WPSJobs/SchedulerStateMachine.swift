/// Timeouts of a scheduler (protocol-spec/jobs.md §5).
public struct SchedulerConfiguration: Sendable, Equatable {
    /// An offer nobody claimed within this time is published again.
    public var claimTimeout: Duration = .seconds(5)
    /// An assigned solver silent for this long is presumed dead and the job re-offered; sent to
    /// the solver as its lease. Several heartbeats plus a reconnect fit in the default.
    public var heartbeatTimeout: Duration = .seconds(10)
    /// How long a cancel waits for the solver's `Cancelled` confirmation.
    public var cancelTimeout: Duration = .seconds(10)
    /// A cancel not yet confirmed is published again this often (a solver whose connection was
    /// replaced may have missed it).
    public var cancelResendInterval: Duration = .seconds(1)

    /// Creates the defaults.
    public init() {}
}

/// How a scheduler run ends.
public enum SchedulerOutcome: Sendable, Equatable {
    case done
    case cancelled
    case failed(String)

    /// The process exit status: 0 done, 2 cancelled, 1 failed.
    public var exitStatus: Int32 {
        switch self {
        case .done: 0
        case .cancelled: 2
        case .failed: 1
        }
    }
}

/// What the scheduler's shell must do.
public enum SchedulerAction: Sendable, Equatable {
    /// Publish the job to the dispatch group.
    case publishOffer(Job)
    /// Publish a message to the job's group.
    case sendToJob(JobMessage)
    /// Show a new progress update (each step/status exactly once, in order).
    case report(JobUpdate)
    /// A line for the log (stderr).
    case log(String)
    /// The run is over.
    case finish(SchedulerOutcome)
}

/// One job's life on the scheduler side, driven by messages and a clock; no I/O.
///
/// protocol-spec/jobs.md §4: offer until claimed, assign the first claim, watch heartbeats,
/// re-offer when the solver goes silent or releases, cancel on request.
public struct SchedulerStateMachine: Sendable {
    enum State: Sendable, Equatable {
        case idle
        case offering(since: Duration)
        case assigned(JobAssignment, lastSeen: Duration)
        case finished(SchedulerOutcome)
    }

    /// The job.
    public let job: Job
    public let configuration: SchedulerConfiguration
    private(set) var state: State = .idle
    private var attempts: UInt64 = 0
    private var reported: Set<String> = []
    /// Steps known completed, a prefix of `job.steps`.
    public private(set) var completedSteps = 0
    /// When a requested cancel stops waiting for its confirmation.
    private var cancelDeadline: Duration?
    private var cancelSentAt: Duration = .zero

    /// Creates the machine for one job.
    public init(job: Job, configuration: SchedulerConfiguration = .init()) {
        self.job = job
        self.configuration = configuration
    }

    /// Whether the run is over.
    public var isFinished: Bool {
        if case .finished = state { return true }
        return false
    }

    /// The claim the job is assigned to, if any.
    public var assignment: JobAssignment? {
        if case .assigned(let a, _) = state { return a }
        return nil
    }

    /// Publishes the first offer.
    public mutating func start(now: Duration) -> [SchedulerAction] {
        guard state == .idle else { return [] }
        return offer(now: now, why: "offered")
    }

    private mutating func offer(now: Duration, why: String) -> [SchedulerAction] {
        state = .offering(since: now)
        return [.log("\(why) job \(job.correlationId)"), .publishOffer(job)]
    }

    /// A message arrived in the job group.
    public mutating func received(_ message: JobMessage, now: Duration) -> [SchedulerAction] {
        guard message.correlationId == job.correlationId else { return [] }
        switch (message, state) {
        case (_, .finished), (_, .idle):
            return []
        case (.claim(_, let solver, let claimId), .offering):
            attempts += 1
            let lease = configuration.heartbeatTimeout
            let leaseMs =
                UInt64(lease.components.seconds) * 1000 + UInt64(lease.components.attoseconds / 1_000_000_000_000_000)
            let a = JobAssignment(
                correlationId: job.correlationId, solver: solver, claimId: claimId, attempt: attempts,
                resumeFrom: completedSteps, leaseMs: leaseMs)
            state = .assigned(a, lastSeen: now)
            return [
                .log("assigned to \(solver) (claim \(claimId), attempt \(attempts), from step \(completedSteps + 1))"),
                .sendToJob(.assign(a)),
            ]
        case (.heartbeat(_, let claimId), .assigned(let a, _)) where claimId == a.claimId:
            state = .assigned(a, lastSeen: now)
            return []
        case (.update(let update), .assigned(let a, _)) where update.claimId == nil || update.claimId == a.claimId:
            state = .assigned(a, lastSeen: now)
            return accept(update)
        case (.release(_, let claimId), .assigned(let a, _)) where claimId == a.claimId:
            if cancelDeadline != nil {
                state = .finished(.cancelled)
                return [.log("\(a.solver) released the job while cancelling"), .finish(.cancelled)]
            }
            return offer(now: now, why: "\(a.solver) released the job; re-offered")
        default:
            // Late claims, other solvers' traffic, our own kinds echoed back: nothing to do.
            return []
        }
    }

    /// Records an update from the assigned solver; reports it unless already reported.
    private mutating func accept(_ update: JobUpdate) -> [SchedulerAction] {
        let index = update.stepIndex ?? stepIndex(of: update)
        guard let index else { return [.log("ignored an update for unknown step '\(update.step)'")] }
        var actions: [SchedulerAction] = []
        let key = "\(index)|\(update.status.rawValue)"
        if !reported.contains(key) {
            reported.insert(key)
            var shown = update
            shown.stepIndex = index
            actions.append(.report(shown))
        }
        if update.status == .completed, index < job.steps.count { completedSteps = max(completedSteps, index + 1) }
        if update.isDone || index >= job.steps.count && update.status == .completed {
            state = .finished(.done)
            actions.append(.finish(.done))
        } else if update.status == .cancelled {
            state = .finished(.cancelled)
            actions.append(.finish(.cancelled))
        }
        return actions
    }

    private func stepIndex(of update: JobUpdate) -> Int? {
        if update.step == JobUpdate.doneStep { return job.steps.count }
        return job.steps.firstIndex(of: update.step)
    }

    /// Time passed: re-offer unclaimed or abandoned jobs, give up waiting for a cancel.
    public mutating func tick(now: Duration) -> [SchedulerAction] {
        if let deadline = cancelDeadline, now >= deadline, !isFinished {
            let reason = "no cancel confirmation within \(configuration.cancelTimeout)"
            state = .finished(.failed(reason))
            return [.finish(.failed(reason))]
        }
        if cancelDeadline != nil, case .assigned = state, now - cancelSentAt >= configuration.cancelResendInterval {
            cancelSentAt = now
            return [.sendToJob(.cancel(correlationId: job.correlationId))]
        }
        switch state {
        case .offering(let since) where now - since >= configuration.claimTimeout:
            return offer(now: now, why: "nobody claimed within \(configuration.claimTimeout); re-offered")
        case .assigned(let a, let lastSeen) where now - lastSeen >= configuration.heartbeatTimeout:
            guard cancelDeadline == nil else { return [] }
            return offer(now: now, why: "\(a.solver) silent for \(configuration.heartbeatTimeout); re-offered")
        default:
            return []
        }
    }

    /// The user asked to cancel.
    public mutating func cancelRequested(now: Duration) -> [SchedulerAction] {
        switch state {
        case .finished:
            return []
        case .idle, .offering:
            state = .finished(.cancelled)
            return [
                .sendToJob(.cancel(correlationId: job.correlationId)),
                .log("cancelled before any solver took the job"), .finish(.cancelled),
            ]
        case .assigned(let a, _):
            guard cancelDeadline == nil else { return [] }
            cancelDeadline = now + configuration.cancelTimeout
            cancelSentAt = now
            return [.log("cancel sent to \(a.solver)"), .sendToJob(.cancel(correlationId: job.correlationId))]
        }
    }

    /// The job-group connection is new (the old one was lost): ask for every update again.
    public mutating func reconnected(now: Duration) -> [SchedulerAction] {
        guard case .assigned = state else { return [] }
        return [.log("reconnected; asking for the updates again"), .sendToJob(.sync(correlationId: job.correlationId))]
    }
}
