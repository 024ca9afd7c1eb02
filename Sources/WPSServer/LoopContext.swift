import WPSDeflate
import WPSHub
import WPSLoop

/// What the server keeps per event loop: its shard of the hub.
final class LoopContext {
    let hub: LoopHub
    let index: Int
    let handshakeBudget: HandshakeBudget
    let deflate: DeflatePool?
    let tlsStats = TLSStats()

    init(loop: EventLoop, configuration: ServerConfiguration) {
        index = loop.index
        handshakeBudget = HandshakeBudget(perTurn: configuration.tlsHandshakesPerTurn, loop: loop)
        deflate = configuration.deflate.enabled ? DeflatePool(configuration: configuration.deflate) : nil
        hub = LoopHub(configuration: configuration.hub)
        hub.deflate = deflate
        hub.peers = LoopPeers(inboxes: loop.siblings, own: loop.index)
        let hub = self.hub
        loop.every(250_000_000) { [unowned loop] in hub.tick(now: loop.now) }
    }

    static func of(_ loop: EventLoop) -> LoopContext {
        // Installed in the loop's configure step before it accepts anything.
        loop.context as! LoopContext
    }
}

/// Posts a broadcast once to each other loop, which fans it out to its own members.
final class LoopPeers: HubPeers {
    let others: [LoopInbox]

    init(inboxes: [LoopInbox], own: Int) {
        others = inboxes.enumerated().filter { $0.offset != own }.map(\.element)
    }

    func publish(_ broadcast: Broadcast) {
        for inbox in others {
            inbox.post { loop in LoopContext.of(loop).hub.deliver(broadcast.copyForAnotherLoop()) }
        }
    }
}
