import Testing
import WPSJobs

@Suite struct SchedulerStateMachineTests {
    let job = Job(name: "J", correlationId: "c", steps: ["a", "b"])

    func machine() -> SchedulerStateMachine {
        var settings = SchedulerConfiguration()
        settings.claimTimeout = .seconds(1)
        settings.heartbeatTimeout = .seconds(3)
        settings.cancelTimeout = .seconds(2)
        return SchedulerStateMachine(job: job, configuration: settings)
    }

    func update(_ step: String, _ index: Int, _ status: JobStatus, claim: String = "s.1") -> JobMessage {
        .update(JobUpdate(name: "J", correlationId: "c", step: step, status: status, stepIndex: index, claimId: claim))
    }

    func sent(_ actions: [SchedulerAction]) -> [JobMessage] {
        actions.compactMap { if case .sendToJob(let m) = $0 { m } else { nil } }
    }

    func reports(_ actions: [SchedulerAction]) -> [JobUpdate] {
        actions.compactMap { if case .report(let u) = $0 { u } else { nil } }
    }

    func offers(_ actions: [SchedulerAction]) -> Int {
        actions.count { if case .publishOffer = $0 { true } else { false } }
    }

    @Test func offersAgainUntilClaimed() {
        var m = machine()
        #expect(offers(m.start(now: .zero)) == 1)
        #expect(m.tick(now: .milliseconds(999)).isEmpty)
        #expect(offers(m.tick(now: .seconds(1))) == 1)
        #expect(offers(m.tick(now: .milliseconds(1500))) == 0)
        #expect(offers(m.tick(now: .seconds(2))) == 1)
    }

    @Test func firstClaimWinsTheRestAreIgnored() {
        var m = machine()
        _ = m.start(now: .zero)
        let first = m.received(.claim(correlationId: "c", solver: "s", claimId: "s.1"), now: .milliseconds(10))
        #expect(
            sent(first) == [
                .assign(
                    JobAssignment(
                        correlationId: "c", solver: "s", claimId: "s.1", attempt: 1, resumeFrom: 0, leaseMs: 3000))
            ])
        #expect(m.received(.claim(correlationId: "c", solver: "t", claimId: "t.1"), now: .milliseconds(11)).isEmpty)
        #expect(m.assignment?.claimId == "s.1")
        #expect(m.received(.claim(correlationId: "other", solver: "t", claimId: "t.1"), now: .milliseconds(12)).isEmpty)
    }

    @Test func reportsEachUpdateOnceAndFinishesOnDone() {
        var m = machine()
        _ = m.start(now: .zero)
        _ = m.received(.claim(correlationId: "c", solver: "s", claimId: "s.1"), now: .zero)
        #expect(reports(m.received(update("a", 0, .inProgress), now: .zero)).count == 1)
        #expect(reports(m.received(update("a", 0, .inProgress), now: .zero)).isEmpty)
        #expect(reports(m.received(update("a", 0, .completed, claim: "t.1"), now: .zero)).isEmpty)
        #expect(reports(m.received(update("a", 0, .completed), now: .zero)).count == 1)
        #expect(m.completedSteps == 1)
        _ = m.received(update("b", 1, .inProgress), now: .zero)
        _ = m.received(update("b", 1, .completed), now: .zero)
        let done = m.received(update("Done", 2, .completed), now: .zero)
        #expect(done.last == .finish(.done))
        #expect(m.isFinished)
        #expect(m.received(update("Done", 2, .completed), now: .zero).isEmpty)
    }

    @Test func updateWithoutIndexOrClaimIsMatchedByName() {
        var m = machine()
        _ = m.start(now: .zero)
        _ = m.received(.claim(correlationId: "c", solver: "s", claimId: "s.1"), now: .zero)
        let plain = JobMessage.update(JobUpdate(name: "J", correlationId: "c", step: "b", status: .completed))
        #expect(reports(m.received(plain, now: .zero)).first?.stepIndex == 1)
        let done = JobMessage.update(JobUpdate(name: "J", correlationId: "c", step: "Done", status: .completed))
        #expect(m.received(done, now: .zero).last == .finish(.done))
    }

    @Test func silentSolverIsReplacedAndTheRunResumes() {
        var m = machine()
        _ = m.start(now: .zero)
        _ = m.received(.claim(correlationId: "c", solver: "s", claimId: "s.1"), now: .zero)
        _ = m.received(update("a", 0, .completed), now: .seconds(1))
        _ = m.received(.heartbeat(correlationId: "c", claimId: "s.1"), now: .seconds(2))
        #expect(offers(m.tick(now: .milliseconds(4900))) == 0)
        #expect(offers(m.tick(now: .seconds(5))) == 1)
        #expect(m.received(update("b", 1, .inProgress), now: .seconds(5)).isEmpty)  // the old claim is stale
        let assign = sent(m.received(.claim(correlationId: "c", solver: "t", claimId: "t.1"), now: .seconds(6)))
        #expect(
            assign == [
                .assign(
                    JobAssignment(
                        correlationId: "c", solver: "t", claimId: "t.1", attempt: 2, resumeFrom: 1, leaseMs: 3000))
            ])
    }

    @Test func releaseReoffersAtOnce() {
        var m = machine()
        _ = m.start(now: .zero)
        _ = m.received(.claim(correlationId: "c", solver: "s", claimId: "s.1"), now: .zero)
        #expect(offers(m.received(.release(correlationId: "c", claimId: "t.9"), now: .zero)) == 0)
        #expect(offers(m.received(.release(correlationId: "c", claimId: "s.1"), now: .zero)) == 1)
    }

    @Test func cancelBeforeAssignmentEndsAtOnce() {
        var m = machine()
        _ = m.start(now: .zero)
        let actions = m.cancelRequested(now: .zero)
        #expect(sent(actions) == [.cancel(correlationId: "c")])
        #expect(actions.last == .finish(.cancelled))
    }

    @Test func cancelWaitsForTheConfirmation() {
        var m = machine()
        _ = m.start(now: .zero)
        _ = m.received(.claim(correlationId: "c", solver: "s", claimId: "s.1"), now: .zero)
        #expect(sent(m.cancelRequested(now: .zero)) == [.cancel(correlationId: "c")])
        #expect(m.cancelRequested(now: .zero).isEmpty)
        #expect(m.tick(now: .milliseconds(999)).isEmpty)
        #expect(sent(m.tick(now: .seconds(1))) == [.cancel(correlationId: "c")])  // sent again, unconfirmed
        let confirmed = m.received(update("a", 0, .cancelled), now: .seconds(1))
        #expect(reports(confirmed).map(\.status) == [.cancelled])
        #expect(confirmed.last == .finish(.cancelled))
        #expect(SchedulerOutcome.cancelled.exitStatus == 2)
    }

    @Test func cancelWithoutConfirmationFails() {
        var m = machine()
        _ = m.start(now: .zero)
        _ = m.received(.claim(correlationId: "c", solver: "s", claimId: "s.1"), now: .zero)
        _ = m.cancelRequested(now: .zero)
        #expect(offers(m.tick(now: .seconds(1))) == 0)
        let failed = m.tick(now: .seconds(2))
        guard case .finish(.failed) = failed.last else {
            Issue.record("expected a failure, got \(failed)")
            return
        }
        #expect(SchedulerOutcome.failed("x").exitStatus == 1)
    }

    @Test func reconnectAsksForSyncOnlyWhileAssigned() {
        var m = machine()
        _ = m.start(now: .zero)
        #expect(sent(m.reconnected(now: .zero)).isEmpty)
        _ = m.received(.claim(correlationId: "c", solver: "s", claimId: "s.1"), now: .zero)
        #expect(sent(m.reconnected(now: .zero)) == [.sync(correlationId: "c")])
    }
}
