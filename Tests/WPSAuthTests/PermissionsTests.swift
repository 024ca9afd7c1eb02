import Testing
import WPSAuth

@Suite struct PermissionsTests {
    typealias Row = (roles: [String], group: String, join: Bool, send: Bool)

    static let roleTable: [Row] = [
        ([], "g", false, false),
        (["webpubsub.joinLeaveGroup"], "g", true, false),
        (["webpubsub.sendToGroup"], "g", false, true),
        (["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"], "any.group", true, true),
        (["webpubsub.joinLeaveGroup.g1"], "g1", true, false),
        (["webpubsub.joinLeaveGroup.g1"], "g2", false, false),
        (["webpubsub.sendToGroup.g1"], "g1", false, true),
        (["webpubsub.sendToGroup.g1"], "G1", false, false),  // groups are case-sensitive
        (["webpubsub.sendToGroup.a.b.c"], "a.b.c", false, true),  // dots belong to the group
        (["webpubsub.sendToGroup.a*"], "a*", false, true),  // singular form is never a pattern
        (["webpubsub.sendToGroup.a*"], "ab", false, false),
        (["WebPubSub.SendToGroup"], "g", false, true),  // role prefix ignores case
        (["webpubsub.sendToGroup."], "g", false, false),  // empty group: ignored
        (["webpubsub.sendToGroupX"], "g", false, false),
        (["webpubsub.sendToGroupX.g"], "g", false, false),
        (["webpubsub.joinLeaveGroups.room.*"], "room.1", true, false),
        (["webpubsub.joinLeaveGroups.room.*"], "room.1.2", false, false),
        (["webpubsub.sendToGroups.room.**"], "room.1.2", false, true),
        (["webpubsub.sendToGroups.r?"], "r1", false, true),
        (["webpubsub.sendToGroups"], "g", false, false),  // plural needs a pattern
        (["webpubsub.sendToGroups.1*2*3*4*5*"], "12345", false, true),
        (["webpubsub.sendToGroups.1*2*3*4*5*6*"], "123456", false, false),  // 6 stars: ignored
        (["webpubsub.sendToGroups.a\\"], "a\\", false, false),  // invalid pattern: ignored
        (["unrelated", "webpubsub.joinLeaveGroup.x"], "x", true, false),
    ]

    @Test(arguments: roleTable) func rolesGrant(roles: [String], group: String, join: Bool, send: Bool) {
        let permissions = Permissions(roles: roles)
        #expect(permissions.canJoinLeave(group: group) == join)
        #expect(permissions.canSend(toGroup: group) == send)
    }

    @Test func grantAndRevokeSpecificGroup() {
        var permissions = Permissions(roles: [])
        permissions.grant(.sendToGroup, group: "g1")
        #expect(permissions.canSend(toGroup: "g1"))
        #expect(!permissions.canSend(toGroup: "g2"))
        #expect(!permissions.canJoinLeave(group: "g1"))
        #expect(!permissions.has(.sendToGroup, group: nil))
        permissions.revoke(.sendToGroup, group: "g1")
        #expect(!permissions.canSend(toGroup: "g1"))
    }

    @Test func revokeOneGroupFromAnyGroupGrant() {
        var permissions = Permissions(roles: ["webpubsub.joinLeaveGroup"])
        #expect(permissions.has(.joinLeaveGroup, group: nil))
        permissions.revoke(.joinLeaveGroup, group: "secret")
        #expect(!permissions.canJoinLeave(group: "secret"))
        #expect(permissions.canJoinLeave(group: "public"))
        #expect(!permissions.has(.joinLeaveGroup, group: nil))
        permissions.grant(.joinLeaveGroup, group: "secret")
        #expect(permissions.canJoinLeave(group: "secret"))
        permissions.revoke(.joinLeaveGroup, group: "secret")
        permissions.grant(.joinLeaveGroup, group: nil)
        #expect(permissions.has(.joinLeaveGroup, group: nil))
        #expect(permissions.canJoinLeave(group: "secret"))
    }

    @Test func revokeOneGroupFromPattern() {
        var permissions = Permissions(roles: ["webpubsub.sendToGroups.room.*"])
        permissions.revoke(.sendToGroup, group: "room.b")
        #expect(permissions.canSend(toGroup: "room.a"))
        #expect(!permissions.canSend(toGroup: "room.b"))
    }

    @Test func revokeAllClearsRolesAndPatterns() {
        var permissions = Permissions(roles: [
            "webpubsub.sendToGroup", "webpubsub.sendToGroup.g", "webpubsub.sendToGroups.**",
            "webpubsub.joinLeaveGroup",
        ])
        permissions.revoke(.sendToGroup, group: nil)
        #expect(!permissions.canSend(toGroup: "g"))
        #expect(!permissions.canSend(toGroup: "x.y"))
        #expect(permissions.canJoinLeave(group: "g"))
    }

    @Test func grantAnyGroup() {
        var permissions = Permissions()
        permissions.grant(.sendToGroup, group: nil)
        #expect(permissions.has(.sendToGroup, group: nil))
        #expect(permissions.canSend(toGroup: "whatever"))
        #expect(!permissions.has(.joinLeaveGroup, group: nil))
    }

    /// Grants and revokes that undo each other leave permissions equal to where they started,
    /// whichever lists they passed through on the way.
    @Test func undoneChangesCompareEqual() {
        var permissions = Permissions()
        permissions.grant(.joinLeaveGroup, group: "a")
        permissions.revoke(.joinLeaveGroup, group: "a")
        #expect(permissions == Permissions())
        #expect(!permissions.canJoinLeave(group: "a"))

        var any = Permissions(roles: ["webpubsub.sendToGroup"])
        any.revoke(.sendToGroup, group: "x")
        #expect(!any.canSend(toGroup: "x") && any.canSend(toGroup: "y") && !any.has(.sendToGroup, group: nil))
        any.grant(.sendToGroup, group: "x")
        #expect(any.has(.sendToGroup, group: nil) && any.canSend(toGroup: "x"))
        any.revoke(.sendToGroup, group: "x")
        #expect(!any.canSend(toGroup: "x"))
        any.grant(.sendToGroup, group: nil)
        #expect(any == Permissions(roles: ["webpubsub.sendToGroup"]))

        var patterned = Permissions(roles: ["webpubsub.joinLeaveGroups.p*"])
        #expect(patterned.canJoinLeave(group: "p1") && !patterned.canJoinLeave(group: "q"))
        patterned.revoke(.joinLeaveGroup, group: nil)
        #expect(patterned == Permissions() && !patterned.canJoinLeave(group: "p1"))
    }
}
