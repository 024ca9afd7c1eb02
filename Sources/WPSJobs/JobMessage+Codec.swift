import WPSBytes

/// Why bytes are not a job message.
public struct JobMessageError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

extension JobMessage {
    /// The message as one compact JSON object, camelCase fields, `type` first.
    public func encoded() -> [UInt8] {
        var out = OutputBuffer(capacity: 128)
        var first = true
        func key(_ name: String) {
            out.append(UInt8(ascii: first ? "{" : ","))
            first = false
            JSONWriter.appendString(name, to: &out)
            out.append(UInt8(ascii: ":"))
        }
        func string(_ name: String, _ value: String) {
            key(name)
            JSONWriter.appendString(value, to: &out)
        }
        func number<I: BinaryInteger>(_ name: String, _ value: I) {
            key(name)
            out.appendDecimal(value)
        }
        string("type", type)
        switch self {
        case .job(let job):
            string("name", job.name)
            string("correlationId", job.correlationId)
            key("steps")
            out.append(UInt8(ascii: "["))
            for (index, step) in job.steps.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                JSONWriter.appendString(step, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .claim(let id, let solver, let claimId):
            string("correlationId", id)
            string("solver", solver)
            string("claimId", claimId)
        case .assign(let a):
            string("correlationId", a.correlationId)
            string("solver", a.solver)
            string("claimId", a.claimId)
            number("attempt", a.attempt)
            number("resumeFrom", a.resumeFrom)
            number("leaseMs", a.leaseMs)
        case .heartbeat(let id, let claimId), .release(let id, let claimId):
            string("correlationId", id)
            string("claimId", claimId)
        case .update(let u):
            string("name", u.name)
            string("correlationId", u.correlationId)
            string("step", u.step)
            string("status", u.status.rawValue)
            if let index = u.stepIndex { number("stepIndex", index) }
            if let claimId = u.claimId { string("claimId", claimId) }
        case .cancel(let id), .sync(let id):
            string("correlationId", id)
        }
        out.append(UInt8(ascii: "}"))
        return out.bytes
    }

    /// Decodes one message (protocol-spec/jobs.md §3). Unknown fields are ignored; a missing
    /// `type` is inferred (`steps` → job, `status` → update) so a bare job or update as the
    /// issue's examples write them is accepted.
    public static func decode(_ bytes: [UInt8]) throws(JobMessageError) -> JobMessage {
        var fields = Fields()
        let result: Result<Void, JSONError> = bytes.withUnsafeBytes { raw in
            do throws(JSONError) {
                try JSON.scanObject(raw) { key, value throws(JSONError) in fields.read(raw, key, value) }
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        if case .failure(let error) = result { throw JobMessageError("not a JSON object: \(error)") }
        return try fields.message()
    }
}

/// The fields of a job message, collected in one scan.
private struct Fields {
    var type: String?
    var name: String?
    var correlationId: String?
    var steps: [String]?
    var stepsInvalid = false
    var solver: String?
    var claimId: String?
    var attempt: UInt64?
    var resumeFrom: UInt64?
    var leaseMs: UInt64?
    var step: String?
    var status: String?
    var stepIndex: UInt64?

    mutating func read(_ raw: UnsafeRawBufferPointer, _ key: JSONToken, _ value: JSONToken) {
        guard let name = JSON.string(raw, key) else { return }
        switch name {
        case "type": type = JSON.string(raw, value)
        case "name": self.name = JSON.string(raw, value)
        case "correlationId": correlationId = JSON.string(raw, value)
        case "solver": solver = JSON.string(raw, value)
        case "claimId": claimId = JSON.string(raw, value)
        case "step": step = JSON.string(raw, value)
        case "status": status = JSON.string(raw, value)
        case "attempt": attempt = JSON.uint64(raw, value)
        case "resumeFrom": resumeFrom = JSON.uint64(raw, value)
        case "leaseMs": leaseMs = JSON.uint64(raw, value)
        case "stepIndex": stepIndex = JSON.uint64(raw, value)
        case "steps":
            guard value.kind == .array else {
                stepsInvalid = true
                return
            }
            var list: [String] = []
            JSON.forEachElement(raw, in: value) { element in
                if let text = JSON.string(raw, element) { list.append(text) } else { stepsInvalid = true }
            }
            steps = list
        default: break
        }
    }

    func require(_ value: String?, _ field: String) throws(JobMessageError) -> String {
        guard let value else { throw JobMessageError("missing or invalid \(field)") }
        return value
    }

    func message() throws(JobMessageError) -> JobMessage {
        let kind = type ?? (steps != nil ? "job" : status != nil ? "update" : nil)
        guard let kind else { throw JobMessageError("missing type") }
        let id = try require(correlationId, "correlationId")
        guard !id.isEmpty else { throw JobMessageError("empty correlationId") }
        switch kind {
        case "job":
            guard let steps, !stepsInvalid else { throw JobMessageError("missing or invalid steps") }
            return .job(Job(name: name ?? id, correlationId: id, steps: steps))
        case "claim":
            return .claim(correlationId: id, solver: solver ?? "", claimId: try require(claimId, "claimId"))
        case "assign":
            return .assign(
                JobAssignment(
                    correlationId: id, solver: solver ?? "", claimId: try require(claimId, "claimId"),
                    attempt: attempt ?? 1, resumeFrom: Int(min(resumeFrom ?? 0, UInt64(Int32.max))),
                    leaseMs: leaseMs ?? 0))
        case "heartbeat":
            return .heartbeat(correlationId: id, claimId: try require(claimId, "claimId"))
        case "update":
            guard let raw = status, let status = JobStatus(rawValue: raw) else {
                throw JobMessageError("missing or invalid status")
            }
            return .update(
                JobUpdate(
                    name: name ?? id, correlationId: id, step: try require(step, "step"), status: status,
                    stepIndex: stepIndex.map { Int(min($0, UInt64(Int32.max))) }, claimId: claimId))
        case "cancel":
            return .cancel(correlationId: id)
        case "release":
            return .release(correlationId: id, claimId: try require(claimId, "claimId"))
        case "sync":
            return .sync(correlationId: id)
        default:
            throw JobMessageError("unknown type '\(kind.prefix(32))'")
        }
    }
}
