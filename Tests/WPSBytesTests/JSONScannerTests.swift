import Testing
import WPSBytes

/// Runs `JSON.validate` on raw bytes.
func validateJSON(_ bytes: [UInt8], maxDepth: Int = 64) -> Result<JSONToken, JSONError> {
    bytes.withUnsafeBytes { raw in
        do throws(JSONError) {
            return .success(try JSON.validate(raw, maxDepth: maxDepth))
        } catch {
            return .failure(error)
        }
    }
}

func validateJSON(_ text: String, maxDepth: Int = 64) -> Result<JSONToken, JSONError> {
    validateJSON(Array(text.utf8), maxDepth: maxDepth)
}

@Suite struct JSONScannerTests {
    // JSONTestSuite "y_" style: must be accepted, with the top-level kind.
    static let accepted: [(String, JSONKind)] = [
        ("{}", .object), ("[]", .array), ("\"\"", .string), ("0", .number), ("-0", .number),
        ("true", .bool), ("false", .bool), ("null", .null), (" \t\r\n[ ] \n", .array),
        ("[1,2,3]", .array), ("{\"a\":1,\"b\":[true,false,null]}", .object),
        ("{\"\":0}", .object), ("{\"a\":1,\"a\":2}", .object), ("[[[]]]", .array),
        ("123", .number), ("-123", .number), ("1.5", .number), ("0.0", .number), ("-0.25", .number),
        ("1e10", .number), ("1E10", .number), ("1e+10", .number), ("1e-10", .number), ("1.5e3", .number),
        ("0e0", .number), ("-0E-0", .number), ("123456789012345678901234567890", .number),
        ("1e999", .number), ("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", .string), ("\"\\u0000\"", .string),
        ("\"\\u00e9\\u00E9\"", .string), ("\"\\uD83D\\uDE00\"", .string), ("\"\\uDBFF\\uDFFF\"", .string),
        ("\"é日本😀\"", .string), ("\"\u{7F}\"", .string), ("\"\u{10FFFF}\"", .string),
        ("[\"a\" , \"b\" ]", .array), ("{ \"a\" : { \"b\" : [ 1 , { } ] } }", .object),
    ]

    // JSONTestSuite "n_" style: must be rejected.
    static let rejected: [String] = [
        "", " ", "{", "}", "[", "]", "[1,]", "[,1]", "[1 2]", "{\"a\":1,}", "{,}", "{\"a\"}", "{\"a\" 1}",
        "{a:1}", "{'a':1}", "{1:1}", "{\"a\":1 \"b\":2}", "[1]]", "[1] x", "{} {}", "01", "-01", "00",
        "+1", "-", "1.", ".1", "1.e1", "1e", "1e+", "1E-", "0x10", "Infinity", "-Infinity", "NaN",
        "tru", "true1", "nul", "NULL", "True", "fals", "\"abc", "\"\\\"", "\"\\x\"", "\"\\u12\"",
        "\"\\u12G4\"", "\"\\U1234\"", "\"\\uD800\"", "\"\\uDC00\"", "\"\\uD800\\u0041\"", "\"\\uD800x\"",
        "\"\\uDFFF\\uD800\"", "\"\t\"", "\"\n\"", "\"\u{1F}\"", "\"\u{00}\"", "'a'", "/* c */ 1",
        "1 // c", "[1,,2]", "[\"a\":1]", "{\"a\":1:2}", "\u{FEFF}{}", "\u{A0}1", "1\u{0C}",
    ]

    @Test(arguments: accepted) func accepts(text: String, kind: JSONKind) throws {
        let token = try validateJSON(text).get()
        #expect(token.kind == kind)
        let trimmed = text.utf8.firstIndex { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }.map {
            text.utf8.distance(from: text.utf8.startIndex, to: $0)
        }
        #expect(token.range.lowerBound == trimmed)
    }

    @Test(arguments: rejected) func rejects(text: String) {
        #expect(throws: JSONError.self) { try validateJSON(text).get() }
    }

    // Raw byte inputs that a Swift String literal cannot hold: malformed UTF-8 inside strings.
    static let badUTF8: [[UInt8]] = [
        [0x22, 0x80, 0x22],  // lone continuation
        [0x22, 0xC0, 0x80, 0x22],  // overlong NUL
        [0x22, 0xC1, 0xBF, 0x22],  // overlong
        [0x22, 0xE0, 0x80, 0x80, 0x22],  // overlong 3-byte
        [0x22, 0xED, 0xA0, 0x80, 0x22],  // encoded surrogate D800
        [0x22, 0xF0, 0x80, 0x80, 0x80, 0x22],  // overlong 4-byte
        [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],  // above U+10FFFF
        [0x22, 0xF5, 0x80, 0x80, 0x80, 0x22],  // invalid lead
        [0x22, 0xFF, 0x22],  // invalid byte
        [0x22, 0xC3, 0x22],  // truncated 2-byte
        [0x22, 0xE2, 0x82, 0x22],  // truncated 3-byte
        [0x22, 0xC3],  // truncated at end of input
        [0x22, 0xE2, 0x28, 0xA1, 0x22],  // bad continuation
        [0x5B, 0xC3, 0xA9, 0x5D],  // non-ASCII outside a string
    ]

    @Test(arguments: badUTF8) func rejectsBadUTF8(bytes: [UInt8]) {
        #expect(throws: JSONError.self) { try validateJSON(bytes).get() }
    }

    static let goodUTF8: [[UInt8]] = [
        [0x22, 0xC2, 0x80, 0x22], [0x22, 0xDF, 0xBF, 0x22], [0x22, 0xE0, 0xA0, 0x80, 0x22],
        [0x22, 0xED, 0x9F, 0xBF, 0x22], [0x22, 0xEE, 0x80, 0x80, 0x22], [0x22, 0xF0, 0x90, 0x80, 0x80, 0x22],
        [0x22, 0xF4, 0x8F, 0xBF, 0xBF, 0x22],
    ]

    @Test(arguments: goodUTF8) func acceptsUTF8Boundaries(bytes: [UInt8]) throws {
        #expect(try validateJSON(bytes).get().kind == .string)
    }

    @Test(arguments: [1, 2, 10, 64]) func depthLimit(limit: Int) {
        func nested(_ depth: Int) -> String {
            String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        }
        func nestedObjects(_ depth: Int) -> String {
            String(repeating: "{\"a\":", count: depth - 1) + "{}" + String(repeating: "}", count: depth - 1)
        }
        #expect((try? validateJSON(nested(limit - 1), maxDepth: limit).get()) != nil || limit == 1)
        #expect((try? validateJSON(nested(limit), maxDepth: limit).get()) != nil)
        #expect((try? validateJSON(nested(limit + 1), maxDepth: limit).get()) == nil)
        #expect((try? validateJSON(nestedObjects(limit), maxDepth: limit).get()) != nil)
        #expect((try? validateJSON(nestedObjects(limit + 1), maxDepth: limit).get()) == nil)
    }

    @Test func depthZeroAllowsOnlyScalars() {
        #expect((try? validateJSON("1", maxDepth: 0).get()) != nil)
        #expect((try? validateJSON("[]", maxDepth: 0).get()) == nil)
    }

    @Test func hugeDepthDoesNotCrash() {
        let text = String(repeating: "[", count: 100_000)
        #expect((try? validateJSON(text, maxDepth: .max).get()) == nil)
    }

    @Test func errorOffsetPointsAtFault() {
        #expect(
            validateJSON("[1,]") == .failure(JSONError(offset: 3, message: "unexpected character, expected a value")))
        if case .failure(let error) = validateJSON("{\"a\":01}") { #expect(error.offset == 6) } else { Issue.record() }
        if case .failure(let error) = validateJSON("[1] x") { #expect(error.offset == 4) } else { Issue.record() }
    }

    @Test func tokenRangesCoverExactValueBytes() {
        let text = Array("{ \"k\" : { \"a\": 1 } , \"s\":\"x\\ny\", \"n\":-1.5e3 }".utf8)
        var seen: [(String, String)] = []
        text.withUnsafeBytes { raw in
            do throws(JSONError) {
                try JSON.scanObject(raw) { key, value in
                    seen.append((JSON.string(raw, key) ?? "?", String(decoding: raw[value.range], as: UTF8.self)))
                }
            } catch {
                Issue.record("\(error)")
            }
        }
        #expect(seen.map(\.0) == ["k", "s", "n"])
        #expect(seen.map(\.1) == ["{ \"a\": 1 }", "\"x\\ny\"", "-1.5e3"])
    }

    @Test(arguments: ["[]", "1", "\"{}\"", "", "{} x", "{\"a\":}", "{\"a\":1,}"])
    func scanObjectRejects(text: String) {
        let bytes = Array(text.utf8)
        let failed: Bool = bytes.withUnsafeBytes { raw in
            do throws(JSONError) {
                try JSON.scanObject(raw) { _, _ in }
                return false
            } catch {
                return true
            }
        }
        #expect(failed)
    }

    @Test func scanObjectPropagatesMemberError() {
        let bytes = Array("{\"a\":1,\"b\":2}".utf8)
        let error: JSONError? = bytes.withUnsafeBytes { raw in
            do throws(JSONError) {
                try JSON.scanObject(raw) { key, _ throws(JSONError) in
                    if JSON.stringEquals(raw, key, "b") {
                        throw JSONError(offset: key.range.lowerBound, message: "no b")
                    }
                }
                return nil
            } catch {
                return error
            }
        }
        #expect(error == JSONError(offset: 7, message: "no b"))
    }

    @Test func forEachMemberAndElement() throws {
        let bytes = Array("[{\"x\":[1, 2 ,3],\"y\":{}}, \"s\", null]".utf8)
        try bytes.withUnsafeBytes { raw in
            let top = try JSON.validate(raw)
            var kinds: [JSONKind] = []
            var object: JSONToken?
            JSON.forEachElement(raw, in: top) { element in
                kinds.append(element.kind)
                if element.kind == .object { object = element }
            }
            #expect(kinds == [.object, .string, .null])
            var keys: [String] = []
            var inner: [UInt64] = []
            JSON.forEachMember(raw, in: try #require(object)) { key, value in
                keys.append(JSON.string(raw, key) ?? "?")
                if value.kind == .array {
                    JSON.forEachElement(raw, in: value) { inner.append(JSON.uint64(raw, $0) ?? 0) }
                }
            }
            #expect(keys == ["x", "y"])
            #expect(inner == [1, 2, 3])
            // Mismatched or out-of-range tokens yield nothing rather than trapping.
            var count = 0
            JSON.forEachMember(raw, in: top) { _, _ in count += 1 }
            JSON.forEachElement(raw, in: JSONToken(kind: .array, range: 5..<500)) { _ in count += 1 }
            JSON.forEachElement(raw, in: JSONToken(kind: .array, range: -3..<2)) { _ in count += 1 }
            #expect(count == 0)
        }
    }
}
