import Testing

@testable import WPSServer

@Suite struct LoopTraceTests {
    /// The hub's per-message hook exists only while a subscription does.
    @Test func hubTracerOnlyWhileSubscribed() throws {
        let harness = try LoopHarness()
        defer { harness.shutdown() }
        let states = try harness.onLoop { _, context -> [Bool] in
            var states = [context.hub.tracer != nil]
            let trace = context.trace
            trace.subscribe(.init(viewer: 1, loop: 0, filter: TraceFilter(hub: "h")))
            trace.subscribe(.init(viewer: 2, loop: 0, filter: TraceFilter()))
            states.append(context.hub.tracer != nil)
            trace.unsubscribe(1)
            states.append(context.hub.tracer != nil)
            trace.unsubscribe(2)
            states.append(context.hub.tracer != nil)
            return states
        }
        #expect(states == [false, true, true, false])
    }
}
