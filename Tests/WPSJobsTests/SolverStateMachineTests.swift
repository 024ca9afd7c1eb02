import Testing
import WPSJobs

@Suite struct SolverStateMachineTests {
    let job = Job(name: "J", correlationId: "c", steps: ["a", "b"])

    func machine(concurrency: Int = 1) -> SolverStateMachine {
        var settings = SolverConfiguration(name: "s")
        settings.concurrency = concurrency
        settings.claimTimeout = .seconds(1)
        settings.heartbeatInterval = .milliseconds(500)
        settings.linger = .seconds(5)
        return SolverStateMachine(configuration: settings)
    }

    func sent(_ actions: [SolverAction]) -> [JobMessage] {
        actions.compactMap { if case .send(_, let m) = $0 { m } else { nil } }
    }

    func statuses(_ actions: [SolverAction]) -> [String] {
        sent(actions).compactMap { if case .update(let u) = $0 { "\(u.step):\(u.status.rawValue)" } else { nil } }
    }

    func assign(_ claimId: String = "s.1", attempt: UInt64 = 1, from: Int = 0, leaseMs: UInt64 = 3000) -> JobMessage {
        .assign(
            JobAssignment(
                correlationId: "c", solver: "s", claimId: claimId, attempt: attempt, resumeFrom: from, leaseMs: leaseMs)
        )
    }

    /// A machine running the job from `from`.
    func running(from: Int = 0) -> SolverStateMachine {
        var m = machine()
        _ = m.receivedOffer(job, now: .zero)
        _ = m.jobConnectionOpened("c", now: .zero)
        _ = m.received(assign(from: from), now: .zero)
        return m
    }

    @Test func claimsAfterTheConnectionIsUp() {
        var m = machine()
        #expect(m.receivedOffer(job, now: .zero) == [.openJobConnection(job)])
        #expect(m.receivedOffer(job, now: .zero).isEmpty)
        #expect(
            sent(m.jobConnectionOpened("c", now: .zero)) == [.claim(correlationId: "c", solver: "s", claimId: "s.1")])
    }

    @Test func respectsConcurrency() {
        var m = machine(concurrency: 2)
        _ = m.receivedOffer(job, now: .zero)
        _ = m.receivedOffer(Job(name: "K", correlationId: "d", steps: []), now: .zero)
        #expect(m.receivedOffer(Job(name: "L", correlationId: "e", steps: []), now: .zero).isEmpty)
        #expect(m.busySlots == 2)
    }

    @Test func runsEveryStepThenDone() {
        var m = machine()
        _ = m.receivedOffer(job, now: .zero)
        _ = m.jobConnectionOpened("c", now: .zero)
        let start = m.received(assign(), now: .zero)
        #expect(statuses(start) == ["a:In Progress"])
        #expect(start.contains(.runStep(correlationId: "c", index: 0, step: "a")))
        #expect(m.stepFinished("c", index: 1, now: .zero).isEmpty)  // not the running step
        #expect(statuses(m.stepFinished("c", index: 0, now: .zero)) == ["a:Completed", "b:In Progress"])
        #expect(statuses(m.stepFinished("c", index: 1, now: .zero)) == ["b:Completed", "Done:Completed"])
        #expect(m.busySlots == 0)
        #expect(m.tick(now: .seconds(5)) == [.closeJobConnection(correlationId: "c")])
    }

    @Test func resumesWhereTheAssignmentSays() {
        let m = running(from: 1)
        #expect(m.running == ["c"])
        var n = machine()
        _ = n.receivedOffer(job, now: .zero)
        _ = n.jobConnectionOpened("c", now: .zero)
        #expect(statuses(n.received(assign(from: 2), now: .zero)) == ["Done:Completed"])
    }

    @Test func cancelStopsMidStepAndConfirms() {
        var m = running()
        let actions = m.received(.cancel(correlationId: "c"), now: .zero)
        #expect(actions.first == .stopStep(correlationId: "c"))
        #expect(statuses(actions) == ["a:Cancelled"])
        #expect(m.stepFinished("c", index: 0, now: .zero).isEmpty)
        #expect(m.busySlots == 0)
    }

    @Test func assignmentToAnotherClaimStopsOrDrops() {
        var m = running()
        let stop = m.received(assign("t.1", attempt: 2), now: .zero)
        #expect(stop.contains(.stopStep(correlationId: "c")) && stop.contains(.closeJobConnection(correlationId: "c")))
        var n = machine()
        _ = n.receivedOffer(job, now: .zero)
        _ = n.jobConnectionOpened("c", now: .zero)
        #expect(n.received(assign("t.1"), now: .zero).contains(.closeJobConnection(correlationId: "c")))
        #expect(n.busySlots == 0)
    }

    @Test func unansweredClaimFreesTheSlot() {
        var m = machine()
        _ = m.receivedOffer(job, now: .zero)
        _ = m.jobConnectionOpened("c", now: .zero)
        #expect(m.tick(now: .milliseconds(999)).isEmpty)
        #expect(m.tick(now: .seconds(1)).contains(.closeJobConnection(correlationId: "c")))
        #expect(m.busySlots == 0)
    }

    @Test func heartbeatsAndLease() {
        var m = running()
        #expect(sent(m.tick(now: .milliseconds(400))).isEmpty)
        #expect(sent(m.tick(now: .milliseconds(500))) == [.heartbeat(correlationId: "c", claimId: "s.1")])
        m.acknowledged("c", now: .milliseconds(600))
        #expect(!m.tick(now: .milliseconds(3599)).contains(.stopStep(correlationId: "c")))
        let lapsed = m.tick(now: .milliseconds(3600))
        #expect(
            lapsed.contains(.stopStep(correlationId: "c")) && lapsed.contains(.closeJobConnection(correlationId: "c")))
        #expect(m.running.isEmpty)
    }

    @Test func reofferOfARunningJobIsClaimedBackAndKept() {
        var m = running()
        #expect(sent(m.receivedOffer(job, now: .zero)) == [.claim(correlationId: "c", solver: "s", claimId: "s.1")])
        let again = m.received(assign(attempt: 2), now: .zero)
        #expect(!again.contains(.stopStep(correlationId: "c")))
        #expect(m.running == ["c"])
    }

    @Test func syncRepeatsEveryUpdate() {
        var m = running()
        _ = m.stepFinished("c", index: 0, now: .zero)
        #expect(
            statuses(m.received(.sync(correlationId: "c"), now: .zero)) == [
                "a:In Progress", "a:Completed", "b:In Progress",
            ])
    }

    @Test func shutdownReleasesRunningJobs() {
        var m = running()
        let actions = m.shutdown(now: .zero)
        #expect(sent(actions) == [.release(correlationId: "c", claimId: "s.1")])
        #expect(actions.contains(.closeJobConnection(correlationId: "c")))
        #expect(m.receivedOffer(job, now: .zero).isEmpty)
    }
}
