// libFuzzer harness for the REST filter compiler (protocol-spec/rest-filter.md).
//
// Built by `scripts/fuzz filter` as ONE module together with the sources of WPSBytes and
// WPSProtocol (their `import WPS…` lines stripped), so nothing here may be module-qualified.
// Invariants, checked on every input:
//   - no crash, no sanitizer report, no runaway time (libFuzzer's -timeout catches that);
//   - compiling is deterministic: the same text gives the same result or the same error;
//   - an error position lies within the text (0…scalar count);
//   - a compiled filter evaluates on every subject, and `not (F)` (when it compiles too)
//     gives the opposite answer on each.

/// Connections covering a null user id, empty and non-empty groups, non-ASCII text.
let filterFuzzSubjects: [(userId: String?, connectionId: String, groups: Set<String>)] = [
    (nil, "c0", []),
    ("user1", "123", ["group1", "g2"]),
    (" É😀'x ", "c-2", ["", "it's", "É😀"]),
]

func filterFuzzCheck(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant violated: \(message())") }
}

/// The filter's answers on every subject, or its error.
func filterFuzzOutcome(_ text: String) -> Result<[Bool], ODataFilterError> {
    do {
        let filter = try ODataFilter(text)
        var answers: [Bool] = []
        for subject in filterFuzzSubjects {
            let viaSet = filter.matches(
                userId: subject.userId, connectionId: subject.connectionId, groups: subject.groups)
            let viaArray = filter.matches(
                userId: subject.userId, connectionId: subject.connectionId, groups: Array(subject.groups))
            filterFuzzCheck(viaSet == viaArray, "Set and Array groups disagree on \(text)")
            answers.append(viaSet)
        }
        return .success(answers)
    } catch {
        return .failure(error)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let first = filterFuzzOutcome(text)
    let again = filterFuzzOutcome(text)
    switch (first, again) {
    case (.success(let a), .success(let b)):
        filterFuzzCheck(a == b, "answers differ between compilations")
        if case .success(let negated) = filterFuzzOutcome("not (" + text + ")") {
            filterFuzzCheck(negated == a.map { !$0 }, "not (F) is not the negation of F")
        }
    case (.failure(let a), .failure(let b)):
        filterFuzzCheck(a == b, "errors differ between compilations")
        filterFuzzCheck(
            a.position >= 0 && a.position <= text.unicodeScalars.count, "position \(a.position) out of range")
        filterFuzzCheck(!a.message.isEmpty, "empty message")
    default:
        filterFuzzCheck(false, "compile succeeded once and failed once")
    }
    return 0
}
