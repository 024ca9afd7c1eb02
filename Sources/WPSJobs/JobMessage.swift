import WPSBytes

/// A job as the scheduler submits it (protocol-spec/jobs.md §3).
public struct Job: Sendable, Equatable {
    /// Display name, e.g. "Job 1".
    public var name: String
    /// The scheduler's id for this job; names the job group.
    public var correlationId: String
    /// Step names, run in order.
    public var steps: [String]

    /// Creates a job.
    public init(name: String, correlationId: String, steps: [String]) {
        self.name = name
        self.correlationId = correlationId
        self.steps = steps
    }
}

/// The status of one step in an update.
public enum JobStatus: String, Sendable, Equatable, CaseIterable {
    case inProgress = "In Progress"
    case completed = "Completed"
    case cancelled = "Cancelled"
}

/// A progress report from the solver running a job (protocol-spec/jobs.md §3).
public struct JobUpdate: Sendable, Equatable {
    /// The step name that the final update uses.
    public static let doneStep = "Done"

    public var name: String
    public var correlationId: String
    /// Step name, or "Done" for the final update.
    public var step: String
    public var status: JobStatus
    /// Index of the step (steps.count for "Done"); optional on the wire.
    public var stepIndex: Int?
    /// The claim the solver runs the job under; optional on the wire.
    public var claimId: String?

    /// Creates an update.
    public init(
        name: String, correlationId: String, step: String, status: JobStatus, stepIndex: Int? = nil,
        claimId: String? = nil
    ) {
        self.name = name
        self.correlationId = correlationId
        self.step = step
        self.status = status
        self.stepIndex = stepIndex
        self.claimId = claimId
    }

    /// Whether this is the final "Done" update.
    public var isDone: Bool { step == Self.doneStep && status == .completed }
}

/// The scheduler's grant of a job to one claim (protocol-spec/jobs.md §3).
public struct JobAssignment: Sendable, Equatable {
    public var correlationId: String
    public var solver: String
    public var claimId: String
    /// 1 for the first assignment, +1 for each re-assignment.
    public var attempt: UInt64
    /// Index of the first step to run (steps before it already completed).
    public var resumeFrom: Int
    /// The solver must stop if no message of its own was acknowledged for this long (0: no lease).
    public var leaseMs: UInt64

    /// Creates an assignment.
    public init(
        correlationId: String, solver: String, claimId: String, attempt: UInt64, resumeFrom: Int, leaseMs: UInt64
    ) {
        self.correlationId = correlationId
        self.solver = solver
        self.claimId = claimId
        self.attempt = attempt
        self.resumeFrom = resumeFrom
        self.leaseMs = leaseMs
    }
}

/// Every message of the job protocol; one JSON object per group message, `dataType` json.
public enum JobMessage: Sendable, Equatable {
    /// Scheduler → dispatch group: a job looking for a solver.
    case job(Job)
    /// Solver → job group: "I can run it".
    case claim(correlationId: String, solver: String, claimId: String)
    /// Scheduler → job group: the job goes to this claim.
    case assign(JobAssignment)
    /// Solver → job group: still working.
    case heartbeat(correlationId: String, claimId: String)
    /// Solver → job group: progress.
    case update(JobUpdate)
    /// Scheduler → job group: stop the job and confirm with a `Cancelled` update.
    case cancel(correlationId: String)
    /// Solver → job group: giving the job back unfinished (shutting down).
    case release(correlationId: String, claimId: String)
    /// Scheduler → job group: send every update again (after a new connection).
    case sync(correlationId: String)

    /// The `type` field's value.
    public var type: String {
        switch self {
        case .job: "job"
        case .claim: "claim"
        case .assign: "assign"
        case .heartbeat: "heartbeat"
        case .update: "update"
        case .cancel: "cancel"
        case .release: "release"
        case .sync: "sync"
        }
    }

    /// The job this message is about.
    public var correlationId: String {
        switch self {
        case .job(let job): job.correlationId
        case .claim(let id, _, _), .heartbeat(let id, _), .cancel(let id), .release(let id, _), .sync(let id): id
        case .assign(let assignment): assignment.correlationId
        case .update(let update): update.correlationId
        }
    }
}
