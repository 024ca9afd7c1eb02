/// The groups one session is in, each with the session's index in that group's member list.
///
/// A session is usually in a handful of groups, so they are kept in a list compared name by
/// name: no hashing on join or leave. Past `listLimit` groups a dictionary takes over, so a
/// session in thousands of groups still finds each one at once.
struct GroupSlots {
    static let listLimit = 8
    private var list: [(name: String, slot: Int)] = []
    private var table: [String: Int]?

    var isEmpty: Bool { table?.isEmpty ?? list.isEmpty }
    var count: Int { table?.count ?? list.count }
    /// The group names, in no particular order.
    var names: [String] { table.map { Array($0.keys) } ?? list.map(\.name) }

    subscript(name: String) -> Int? {
        get {
            if let table { return table[name] }
            return list.first { $0.name == name }?.slot
        }
        set {
            guard let newValue else {
                removeValue(forKey: name)
                return
            }
            if table != nil {
                table![name] = newValue
            } else if let index = list.firstIndex(where: { $0.name == name }) {
                list[index].slot = newValue
            } else if list.count < Self.listLimit {
                list.append((name, newValue))
            } else {
                var grown = Dictionary(uniqueKeysWithValues: list.map { ($0.name, $0.slot) })
                grown[name] = newValue
                table = grown
                list = []
            }
        }
    }

    @discardableResult
    mutating func removeValue(forKey name: String) -> Int? {
        if table != nil { return table!.removeValue(forKey: name) }
        guard let index = list.firstIndex(where: { $0.name == name }) else { return nil }
        // Order does not matter: the last entry fills the gap.
        let slot = list[index].slot
        list[index] = list[list.count - 1]
        list.removeLast()
        return slot
    }
}
