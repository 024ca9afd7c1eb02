import Testing
import WPSJobs

@Suite struct JobMessageTests {
    static let job = Job(name: "Job 1", correlationId: "c1", steps: ["Read all the data", "Train \"it\""])

    static let samples: [JobMessage] = [
        .job(job),
        .claim(correlationId: "c1", solver: "s1", claimId: "s1.1"),
        .assign(
            JobAssignment(
                correlationId: "c1", solver: "s1", claimId: "s1.1", attempt: 2, resumeFrom: 1, leaseMs: 10_000)),
        .heartbeat(correlationId: "c1", claimId: "s1.1"),
        .update(
            JobUpdate(
                name: "Job 1", correlationId: "c1", step: "Read all the data", status: .inProgress, stepIndex: 0,
                claimId: "s1.1")),
        .update(JobUpdate(name: "Job 1", correlationId: "c1", step: "Done", status: .completed)),
        .update(JobUpdate(name: "Job 1", correlationId: "c1", step: "x", status: .cancelled, stepIndex: 3)),
        .cancel(correlationId: "c1"),
        .release(correlationId: "c1", claimId: "s1.1"),
        .sync(correlationId: "c1"),
    ]

    @Test(arguments: samples) func roundTrips(_ message: JobMessage) throws {
        #expect(try JobMessage.decode(message.encoded()) == message)
    }

    @Test func jobBytesAreCamelCaseWithTypeFirst() {
        let text = String(decoding: JobMessage.job(Self.job).encoded(), as: UTF8.self)
        #expect(
            text == #"{"type":"job","name":"Job 1","correlationId":"c1","steps":["Read all the data","Train \"it\""]}"#)
    }

    @Test func updateBytes() {
        let update = JobUpdate(
            name: "J", correlationId: "c", step: "s", status: .inProgress, stepIndex: 0, claimId: "a.1")
        let text = String(decoding: JobMessage.update(update).encoded(), as: UTF8.self)
        #expect(
            text
                == #"{"type":"update","name":"J","correlationId":"c","step":"s","status":"In Progress","stepIndex":0,"claimId":"a.1"}"#
        )
    }

    @Test func bareJobAndUpdateAreInferred() throws {
        let job = try JobMessage.decode(
            Array(#"{"name":"J","correlationId":"c","steps":["a","b"],"extra":{"x":[1]}}"#.utf8))
        #expect(job == .job(Job(name: "J", correlationId: "c", steps: ["a", "b"])))
        let update = try JobMessage.decode(
            Array(#"{"name":"J","correlationId":"c","step":"a","status":"Completed"}"#.utf8))
        #expect(update == .update(JobUpdate(name: "J", correlationId: "c", step: "a", status: .completed)))
    }

    @Test(arguments: [
        "[]", "{", #"{"type":"job","correlationId":"c"}"#, #"{"type":"job","correlationId":"c","steps":[1]}"#,
        #"{"type":"job","correlationId":"c","steps":"a"}"#, #"{"type":"claim","correlationId":"c"}"#,
        #"{"type":"update","correlationId":"c","step":"a","status":"Finished"}"#,
        #"{"type":"nope","correlationId":"c"}"#, #"{"type":"cancel"}"#, #"{"type":"cancel","correlationId":""}"#,
        #"{"correlationId":"c"}"#,
    ])
    func rejects(_ text: String) {
        #expect(throws: JobMessageError.self) { try JobMessage.decode(Array(text.utf8)) }
    }

    @Test func statusNamesAreTheIssues() {
        #expect(JobStatus.allCases.map(\.rawValue) == ["In Progress", "Completed", "Cancelled"])
    }
}
