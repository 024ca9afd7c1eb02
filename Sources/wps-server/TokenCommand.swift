import ArgumentParser
import Glibc
import WPSAuth

/// `wps-server token`: prints a client URL with a fresh token, for websocat and friends.
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print a client WebSocket URL with a freshly signed access token, or an admin token."
    )

    @Option(help: "Hub name.")
    var hub = "hub"

    @Option(help: "User id (the token's sub claim).")
    var user: String?

    @Option(help: "Role, repeatable (e.g. webpubsub.joinLeaveGroup.G, webpubsub.sendToGroup.G).")
    var role: [String] = []

    @Option(help: "Group to join on connect, repeatable.")
    var group: [String] = []

    @Option(help: "Minutes until the token expires.")
    var minutes = 60

    @Option(help: "The server's HTTP origin that clients dial.")
    var endpoint = "http://127.0.0.1:8080"

    @Option(help: "Access key to sign with (default: WPS_ACCESS_KEY, then the state directory's key).")
    var accessKey: [String] = []

    @Option(help: "State directory holding the generated access key.")
    var stateDir = ".wps-state"

    @Flag(help: "Print a bearer token for the /admin routes instead of a client URL.")
    var admin = false

    func validate() throws {
        guard minutes >= 1 else { throw ValidationError("--minutes must be at least 1") }
    }

    func run() throws {
        let (keys, _) = try KeyStore.keys(flags: accessKey, stateDirectory: stateDir)
        let origin = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        if admin {
            print(
                AdminToken.make(
                    endpoint: origin, key: keys[0], now: Int64(time(nil)), lifetime: Int64(minutes) * 60, subject: user)
            )
            return
        }
        let token = ClientToken.make(
            endpoint: origin, hub: hub, userId: user, roles: role, groups: group, key: keys[0],
            now: Int64(time(nil)), lifetime: Int64(minutes) * 60)
        print(ClientToken.clientURL(endpoint: origin, hub: hub, token: token))
    }
}
