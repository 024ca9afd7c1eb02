import Testing
import WPSUpstream

@Suite struct URLTemplateTests {
    @Test func expandsPlaceholdersPercentEncoded() throws {
        let template = try URLTemplate("http://127.0.0.1:7071/api/{hub}/{event}?code=abc")
        #expect(!template.isTLS)
        #expect(template.host == "127.0.0.1" && template.port == 7071)
        #expect(template.hostHeader == "127.0.0.1:7071")
        #expect(template.target(hub: "chat", event: "a b/c") == "/api/chat/a%20b%2Fc?code=abc")
        #expect(template.url(hub: "chat", event: "validate") == "http://127.0.0.1:7071/api/chat/validate?code=abc")
    }

    @Test func redactsQueryValuesForLogsAndMessages() throws {
        let template = try URLTemplate("http://127.0.0.1:7071/api/{hub}/{event}?code=abc&x=1&bare&&e={event}")
        #expect(
            template.redactedURL(hub: "chat", event: "validate")
                == "http://127.0.0.1:7071/api/chat/validate?code=***&x=***&***&&e=***")
        #expect(template.redactedDescription == "http://127.0.0.1:7071/api/{hub}/{event}?code=***&x=***&***&&e=***")
        let plain = try URLTemplate("https://h/{event}")
        #expect(plain.redactedURL(hub: "chat", event: "connect") == "https://h/connect")
        #expect(URLTemplate.redactingQuery("http://h/p?") == "http://h/p?")
    }

    @Test func defaultPortsAndPaths() throws {
        let plain = try URLTemplate("http://handler.example")
        #expect(plain.port == 80 && plain.target == "/" && plain.hostHeader == "handler.example")
        let secure = try URLTemplate("HTTPS://handler.example/{event}")
        #expect(secure.isTLS && secure.port == 443 && secure.origin == "https://handler.example")
        let query = try URLTemplate("http://h?e={event}")
        #expect(query.target(hub: "x", event: "ping") == "/?e=ping")
        let v6 = try URLTemplate("http://[::1]:9000/x")
        #expect(v6.host == "::1" && v6.port == 9000 && v6.hostHeader == "[::1]:9000")
    }

    @Test(arguments: [
        "ftp://h/x", "h/x", "http://", "http://h:0/", "http://h:65536/", "http://h:abc/", "http://u:p@h/",
        "http://{hub}.example/", "http://h/{other}", "http://h/{event", "http://h/}", "http://h/a b", "http://h/#frag",
        "http://[::1/",
    ])
    func refusesBadTemplates(_ text: String) {
        #expect(throws: URLTemplate.Failure.self) { try URLTemplate(text) }
    }

    @Test func portEdges() throws {
        #expect(try URLTemplate("http://h:1/").port == 1)
        #expect(try URLTemplate("http://h:65535/").port == 65535)
    }
}

@Suite struct EventPatternTests {
    @Test func starMatchesEverything() throws {
        let all = try EventPattern("*")
        #expect(all.matches("anything") && all.matches("message"))
    }

    @Test func listsAndSingleNamesIgnoreCase() throws {
        let list = try EventPattern("a, B ,c")
        #expect(list.matches("a") && list.matches("b") && list.matches("C"))
        #expect(!list.matches("d"))
        let one = try EventPattern("Message")
        #expect(one.matches("message") && !one.matches("messages"))
    }

    @Test(arguments: ["", " ", "a,,b", "a*", "a b"])
    func refusesBadPatterns(_ text: String) {
        #expect(throws: EventPattern.Failure.self) { try EventPattern(text) }
    }

    @Test func firstMatchingHandlerWins() throws {
        let first = EventHandler(
            urlTemplate: try URLTemplate("http://one/"), userEvents: try EventPattern("a"), systemEvents: [.connect])
        let second = EventHandler(
            urlTemplate: try URLTemplate("http://two/"), userEvents: .all, systemEvents: [.connect, .disconnected])
        let table = EventHandlerTable(hubs: ["chat": [first, second]], anyHub: [second])
        #expect(table.handler(hub: "chat", userEvent: "a")?.urlTemplate.host == "one")
        #expect(table.handler(hub: "chat", userEvent: "b")?.urlTemplate.host == "two")
        #expect(table.handler(hub: "chat", .connect)?.urlTemplate.host == "one")
        #expect(table.handler(hub: "chat", .disconnected)?.urlTemplate.host == "two")
        #expect(table.handler(hub: "chat", .connected) == nil)
        #expect(table.handler(hub: "other", userEvent: "a")?.urlTemplate.host == "two")
    }
}

@Suite struct RetryScheduleTests {
    @Test func oneThreeFiveSecondsThenGiveUp() {
        let schedule = RetrySchedule()
        #expect(schedule.maxAttempts == 4)
        #expect(schedule.delay(afterAttempt: 1, status: nil) == 1_000_000_000)
        #expect(schedule.delay(afterAttempt: 2, status: 503) == 3_000_000_000)
        #expect(schedule.delay(afterAttempt: 3, status: 408) == 5_000_000_000)
        #expect(schedule.delay(afterAttempt: 4, status: 500) == nil)
    }

    @Test(arguments: [400, 401, 403, 404, 429])
    func noRetryOnOtherClientErrors(_ status: Int) {
        #expect(RetrySchedule().delay(afterAttempt: 1, status: status) == nil)
    }
}

@Suite struct ContentTypeTests {
    @Test func replyTypesIgnoreParameters() {
        #expect(UpstreamContent.dataType(ofReply: "text/plain; charset=utf-8") == .text)
        #expect(UpstreamContent.dataType(ofReply: "Application/JSON;charset=utf-8") == .json)
        #expect(UpstreamContent.dataType(ofReply: "application/cloudevents+json") == .json)
        #expect(UpstreamContent.dataType(ofReply: "application/octet-stream") == .binary)
        #expect(UpstreamContent.dataType(ofReply: nil) == .binary)
        #expect(UpstreamContent.contentType(.protobuf) == "application/octet-stream")
    }

    @Test func timestamps() {
        #expect(Timestamp.iso8601(0) == "1970-01-01T00:00:00Z")
        #expect(Timestamp.iso8601(951_782_400) == "2000-02-29T00:00:00Z")
        #expect(Timestamp.iso8601(1_798_761_599) == "2026-12-31T23:59:59Z")
    }
}

extension URLTemplateTests {
    @Test func placeholdersAnywhereAndRepeated() throws {
        let template = try URLTemplate("http://h/{event}/x/{hub}{event}?e={event}&h={hub}")
        #expect(template.target(hub: "c", event: "e/1") == "/e%2F1/x/ce%2F1?e=e%2F1&h=c")
        #expect(try URLTemplate("http://h/plain?x=1").target(hub: "a", event: "b") == "/plain?x=1")
        #expect(try URLTemplate("http://h/{hub}").target(hub: "a b", event: "b") == "/a%20b")
    }
}
