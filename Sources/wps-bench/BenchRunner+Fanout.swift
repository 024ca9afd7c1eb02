import Glibc
import WPSAuth
import WPSLoop

/// The message workloads: one publisher to N subscribers, and chat rooms.
extension BenchRunner {
    /// N subscribers in one group; one publisher (WebSocket or REST) at a fixed rate or at
    /// saturation; measures from the first publish until every delivery arrived (or 5 s).
    func runFanout(_ harness: BenchHarness, into result: inout BenchResult) {
        let subscribers = options.subscribers
        let group = "fanout"
        let pace: PublishPace = options.rate > 0 ? .rate(options.rate) : .saturation(window: options.window)
        result.set("publisher", options.publisher)
        result.set("mode", options.rate > 0 ? "rate" : "saturation")
        result.set("subscribers", subscribers)
        result.set("payloadBytes", options.payloadBytes)
        if options.rate > 0 { result.set("ratePerSecond", options.rate) } else { result.set("window", options.window) }
        if options.reliable { result.set("sequenceAckEvery", options.sequenceAckEvery) }
        if options.count > 0 { result.set("count", options.count) }

        // Subscribers take the nodes' ports in turn on each loop (one port: the server's).
        let ports = options.subscriberPorts.isEmpty ? [options.port] : options.subscriberPorts
        if !options.subscriberPorts.isEmpty {
            result.set("subscriberPorts", .text(ports.map(String.init).joined(separator: ",")))
            result.set("subscriberNodes", ports.count)
        }
        let paths = ports.map { clientPath(groups: [group], port: $0) }
        harness.onEachLoop { context, index in
            let mine = subscribers / harness.threads + (index < subscribers % harness.threads ? 1 : 0)
            context.tracksSlowest = true
            for number in 0..<mine {
                let subscriber = BenchSubscriber(context: context, group: group)
                context.subscribers.append(subscriber)
                let turn = (number + index) % ports.count
                subscriber.start(path: paths[turn], port: ports[turn])
            }
        }
        guard awaitConnections(harness, expected: subscribers, seconds: 60, into: &result) else {
            result.set("error", "subscribers did not all connect")
            addFailures(harness.collect(fanoutPublished: 0), harness, into: &result)
            return
        }

        let plan = PublishPlan(
            group: group, pace: pace, maxCount: options.count, subscribers: subscribers,
            deliveryWindow: max(options.deliveryWindow, options.window))
        if options.publisher == "rest" {
            let restPath = "/api/hubs/\(options.hub)/groups/\(group)/:send?api-version=2024-01-01"
            let token = restToken(path: restPath)
            harness.onLoop(0) { context in
                let publisher = RestPublisher(context: context, plan: plan, token: token, path: restPath)
                context.keep.append(publisher)
                context.tickers.append(publisher)
                publisher.connect()
            }
        } else {
            let publisherPath = clientPath(userId: "publisher", roles: ["webpubsub.sendToGroup"])
            harness.onLoop(0) { context in
                let publisher = GroupPublisher(context: context, plan: plan)
                context.keep.append(publisher)
                context.tickers.append(publisher)
                publisher.connect(path: publisherPath)
            }
        }
        guard awaitConnections(harness, expected: subscribers + 1, seconds: 10, into: &result, record: false) else {
            result.set("error", "publisher did not connect")
            addFailures(harness.collect(fanoutPublished: 0), harness, into: &result)
            return
        }
        usleep(200_000)
        waitForGoSignal(harness)

        let before = measure(harness)
        let start = ProcessControl.monotonicNanos
        harness.onLoop(0) { context in
            for object in context.keep {
                (object as? GroupPublisher)?.begin()
                (object as? RestPublisher)?.begin()
            }
        }
        let shared = harness.shared
        if options.count > 0 {
            harness.wait(seconds: options.durationSeconds) {
                shared.published.load(ordering: .relaxed) >= options.count
            }
        } else {
            harness.sleep(seconds: options.durationSeconds)
        }
        shared.stop.store(true, ordering: .relaxed)
        // Drain: every publish acked, then every delivery in (bounded).
        harness.wait(seconds: 5) { shared.acked.load(ordering: .relaxed) >= shared.published.load(ordering: .relaxed) }
        let published = shared.published.load(ordering: .relaxed)
        harness.wait(seconds: 5) { shared.delivered.load(ordering: .relaxed) >= published * subscribers }
        let after = measure(harness)
        let seconds = Double(ProcessControl.monotonicNanos - start) / 1e9

        let stats = harness.collect(fanoutPublished: published)
        addDeliveries(stats, seconds: seconds, into: &result)
        addServer(from: before, to: after, deliveries: stats.delivered, published: published, into: &result)
        addFailures(stats, harness, into: &result)
    }

    /// G groups of `members` clients, each publishing to its group at `memberRate` per second.
    func runChat(_ harness: BenchHarness, into result: inout BenchResult, members: Int = 10) {
        let groups = options.groups
        let rate = options.memberRate
        result.set("groups", groups)
        result.set("membersPerGroup", members)
        result.set("memberRatePerSecond", rate)
        result.set("payloadBytes", options.payloadBytes)
        // Members of a group share a loop, so loss accounting stays local to it.
        let paths = (0..<groups).map { clientPath(roles: ["webpubsub.sendToGroup"], groups: ["chat-\($0)"]) }
        harness.onEachLoop { context, index in
            for groupIndex in stride(from: index, to: groups, by: harness.threads) {
                var room: [BenchSubscriber] = []
                for slot in 0..<members {
                    let member = BenchSubscriber(
                        context: context, group: "chat-\(groupIndex)", slot: slot, ratePerSecond: rate)
                    room.append(member)
                    context.subscribers.append(member)
                    context.tickers.append(member)
                    member.start(path: paths[groupIndex])
                }
                context.chatGroups.append(room)
            }
        }
        guard awaitConnections(harness, expected: groups * members, seconds: 60, into: &result) else {
            result.set("error", "members did not all connect")
            addFailures(harness.collect(fanoutPublished: 0), harness, into: &result)
            return
        }
        usleep(200_000)
        let shared = harness.shared
        let before = measure()
        let start = ProcessControl.monotonicNanos
        shared.publishing.store(true, ordering: .relaxed)
        harness.sleep(seconds: options.durationSeconds)
        shared.stop.store(true, ordering: .relaxed)
        let published = shared.published.load(ordering: .relaxed)
        harness.wait(seconds: 5) { shared.delivered.load(ordering: .relaxed) >= published * members }
        let after = measure()
        let seconds = Double(ProcessControl.monotonicNanos - start) / 1e9
        let stats = harness.collect(fanoutPublished: 0)
        addDeliveries(stats, seconds: seconds, into: &result)
        addServer(from: before, to: after, deliveries: stats.delivered, into: &result)
        addFailures(stats, harness, into: &result)
    }

    /// A REST bearer token whose audience is the full request URL, valid for an hour.
    func restToken(path: String) -> String {
        let now = Int64(time(nil))
        var payload = Array(#"{"aud":""#.utf8)
        payload.append(contentsOf: (endpoint + path).utf8)
        payload.append(contentsOf: #"","iat":\#(now),"exp":\#(now + 3600)}"#.utf8)
        return JWT.sign(payload: payload, key: AccessKey(options.accessKey))
    }
}
