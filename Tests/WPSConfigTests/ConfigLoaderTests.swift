import Testing
import WPSConfig
import WPSUpstream

@Suite struct ConfigLoaderTests {
    let sample = """
        # a full file
        host: 0.0.0.0
        port: 9090
        accessKeys: [primary-key, secondary-key]
        eventHandlerTimeoutSeconds: 2.5
        eventHandlers:
          - urlTemplate: http://fallback/{event}
            userEventPattern: "*"
        hubs:
          Chat:
            eventHandlers:
              - urlTemplate: https://app.example/api/{hub}/{event}?code=x
                userEventPattern: message,typing
                systemEvents: [connect, disconnected]
                headers:
                  x-functions-key: secret
              - urlTemplate: http://second/{event}
                systemEvents: connected
        """

    @Test func readsEveryKey() throws {
        let file = try ConfigLoader.parse(sample, path: "wps.yaml")
        #expect(file.host == "0.0.0.0" && file.port == 9090)
        #expect(file.accessKeys == ["primary-key", "secondary-key"])
        #expect(file.eventHandlerTimeoutSeconds == 2.5)
        #expect(file.eventHandlers.count == 1 && file.eventHandlers[0].userEvents == .all)
        let chat = try #require(file.hubs["chat"])
        #expect(chat.eventHandlers.count == 2)
        let first = chat.eventHandlers[0]
        #expect(first.urlTemplate.isTLS && first.urlTemplate.host == "app.example")
        #expect(first.takes(userEvent: "typing") && !first.takes(userEvent: "other"))
        #expect(first.systemEvents == [.connect, .disconnected])
        #expect(first.headers == [.init(name: "x-functions-key", value: "secret")])
        #expect(chat.eventHandlers[1].systemEvents == [.connected])
        #expect(chat.eventHandlers[1].userEvents == nil)
        let table = file.handlerTable
        #expect(table.handler(hub: "chat", .connected)?.urlTemplate.host == "second")
        #expect(table.handler(hub: "other", userEvent: "x")?.urlTemplate.host == "fallback")
    }

    @Test func jsonFilesWork() throws {
        let file = try ConfigLoader.parse(
            #"{"port": 1, "hubs": {"h": {"eventHandlers": [{"urlTemplate": "http://a/{event}", "userEventPattern": "*"}]}}}"#,
            path: "wps.json")
        #expect(file.port == 1 && file.hubs["h"]?.eventHandlers.count == 1)
    }

    @Test func emptyFileSetsNothing() throws {
        let file = try ConfigLoader.parse("# nothing\n", path: "wps.yaml")
        #expect(file.port == nil && file.hubs.isEmpty)
    }

    func failure(_ text: String) -> ConfigError? {
        do {
            _ = try ConfigLoader.parse(text, path: "wps.yaml")
            return nil
        } catch {
            return error
        }
    }

    @Test func unknownKeysNameTheLine() {
        let error = failure("port: 1\nprot: 2\n")
        #expect(error?.line == 2 && error?.column == 1)
        #expect(error?.reason.contains("unknown key 'prot'") == true)
        #expect(error?.description.hasPrefix("wps.yaml:2:1: ") == true)
        let nested = failure(
            "hubs:\n  chat:\n    eventHandlers:\n      - urlTemplate: http://a/\n        userEventPatern: x\n")
        #expect(nested?.line == 5)
        #expect(nested?.reason.contains("userEventPatern") == true)
    }

    @Test(
        arguments: [
            ("hubs:\n  chat:\n    eventHandlers:\n      - urlTemplate: ftp://a/\n", 4, "http"),
            ("hubs:\n  chat:\n    eventHandlers:\n      - urlTemplate: http://a/{nope}\n", 4, "placeholder"),
            ("hubs:\n  chat:\n    eventHandlers:\n      - userEventPattern: '*'\n", 4, "needs a urlTemplate"),
            (
                "hubs:\n  chat:\n    eventHandlers:\n      - urlTemplate: http://a/\n        systemEvents: [connects]\n",
                5, "unknown system event"
            ),
            ("hubs:\n  9chat: {}\n", 2, "not a valid hub name"),
            ("hubs:\n  chat: {}\n  CHAT: {}\n", 3, "configured twice"),
            ("port: 65536\n", 1, "0...65535"),
            ("port: http\n", 1, "whole number"),
            ("eventHandlerTimeoutSeconds: 0\n", 1, "positive"),
            ("accessKeys: []\n", 1, "at least one"),
            ("port: 1\nport: 2\n", 1, "duplicate"),
            ("port: [1\n", 2, "expected"),
            ("logFormat: xml\n", 1, "text or json"),
        ] as [(String, Int, String)])
    func badValuesNameTheLineAndReason(_ text: String, _ line: Int, _ reason: String) {
        let error = failure(text)
        #expect(error != nil)
        #expect(error?.line == line, "\(String(describing: error))")
        #expect(error?.reason.contains(reason) == true, "\(String(describing: error))")
    }

    @Test func environmentOverridesTheFile() throws {
        let file = try ConfigLoader.parse(
            "port: 1\nhost: a\n", path: "wps.yaml",
            environment: [
                "WPS_PORT": "2", "WPS_EVENT_HANDLER_TIMEOUT_SECONDS": "7", "WPS_EVENT_HANDLER_INSECURE": "true",
            ])
        #expect(file.port == 2 && file.host == "a")
        #expect(file.eventHandlerTimeoutSeconds == 7 && file.eventHandlerInsecure == true)
        #expect(ConfigLoader.environmentName("maxWaitingMessages") == "WPS_MAX_WAITING_MESSAGES")
        #expect(throws: ConfigError.self) {
            try ConfigLoader.parse("", path: "wps.yaml", environment: ["WPS_PORT": "x"])
        }
    }

    @Test func missingFile() {
        #expect(throws: ConfigError.self) { try ConfigLoader.load(path: "/nonexistent/wps.yaml") }
    }
}
