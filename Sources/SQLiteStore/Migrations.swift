import DeviceKit
import Foundation
import GRDB
import HallModel

/// The schema, one migration at a time; applied when the database opens.
extension HallDatabase {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-event-log") { db in
            // AUTOINCREMENT: a sequence number is never reused, even after old events are trimmed.
            try db.execute(
                sql: """
                    CREATE TABLE event (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        type TEXT NOT NULL,
                        device TEXT,
                        time TEXT NOT NULL,
                        data TEXT NOT NULL
                    );
                    CREATE INDEX event_time ON event(time);
                    """)
        }
        migrator.registerMigration("v1-device-counters") { db in
            try db.execute(
                sql: """
                    CREATE TABLE device_counter (
                        device TEXT NOT NULL,
                        name TEXT NOT NULL,
                        value INTEGER NOT NULL,
                        PRIMARY KEY (device, name)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v2-print-jobs") { db in
            // Every print job with its outcome and the bytes sent, so a failed ticket
            // is visible and can be printed again.
            try db.execute(
                sql: """
                    CREATE TABLE print_job (
                        id TEXT PRIMARY KEY NOT NULL,
                        device TEXT NOT NULL,
                        format TEXT NOT NULL,
                        title TEXT NOT NULL,
                        state TEXT NOT NULL,
                        created_at TEXT NOT NULL,
                        updated_at TEXT NOT NULL,
                        job TEXT NOT NULL,
                        document BLOB
                    );
                    CREATE INDEX print_job_state ON print_job(state, created_at);
                    """)
        }
        migrator.registerMigration("v3-hall") { db in
            // Numbers are unique per service and day: a number is never issued twice.
            try db.execute(
                sql: """
                    CREATE TABLE ticket (
                        id TEXT PRIMARY KEY NOT NULL,
                        day TEXT NOT NULL,
                        service TEXT NOT NULL,
                        seq INTEGER NOT NULL,
                        number TEXT NOT NULL,
                        priority TEXT NOT NULL,
                        appointment TEXT,
                        slot REAL,
                        state TEXT NOT NULL,
                        issued_at REAL NOT NULL,
                        queued_at REAL NOT NULL,
                        called_at REAL,
                        finished_at REAL,
                        window INTEGER,
                        clerk TEXT,
                        recalls INTEGER NOT NULL DEFAULT 0,
                        transferred_from TEXT,
                        print_job TEXT,
                        print_error TEXT,
                        issue_service TEXT NOT NULL,
                        UNIQUE (day, issue_service, seq)
                    );
                    CREATE INDEX ticket_day_state ON ticket(day, state);
                    CREATE TABLE rating (
                        ticket TEXT PRIMARY KEY NOT NULL REFERENCES ticket(id),
                        number TEXT NOT NULL,
                        service TEXT NOT NULL,
                        window INTEGER NOT NULL,
                        clerk TEXT,
                        level TEXT,
                        time REAL NOT NULL,
                        channel TEXT NOT NULL
                    );
                    CREATE INDEX rating_time ON rating(time);
                    CREATE TABLE hall_window (
                        number INTEGER PRIMARY KEY NOT NULL,
                        state TEXT NOT NULL,
                        away TEXT,
                        clerk TEXT,
                        current TEXT
                    );
                    CREATE TABLE appointment (
                        code TEXT PRIMARY KEY NOT NULL,
                        service TEXT NOT NULL,
                        slot REAL NOT NULL,
                        ticket TEXT
                    );
                    """)
        }
        migrator.registerMigration("v4-followed-hall") { db in
            // The hall sequence followed so far, per shared hall: written in the same
            // transaction as the followed event, so each is stored exactly once.
            try db.execute(sql: "CREATE TABLE followed_hall (hall TEXT PRIMARY KEY NOT NULL, seq INTEGER NOT NULL)")
        }
        migrator.registerMigration("v5-roster") { db in
            // The hall's clerks by staff number, as JSON (removed ones kept with removedAt).
            try db.execute(sql: "CREATE TABLE clerk (staff_id TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL)")
            // Who served a ticket and who a rating belongs to, by staff number.
            try db.execute(sql: "ALTER TABLE ticket ADD COLUMN staff_id TEXT")
            try db.execute(sql: "ALTER TABLE rating ADD COLUMN staff_id TEXT")
        }
        migrator.registerMigration("v6-ledger") { db in
            // The 办不成事 ledger: entries as JSON, by the time they were written.
            try db.execute(sql: "CREATE TABLE ledger (id TEXT PRIMARY KEY NOT NULL, at REAL NOT NULL, data TEXT NOT NULL)")
            try db.execute(sql: "CREATE INDEX ledger_at ON ledger (at)")
        }
        migrator.registerMigration("v7-follow-ups") { db in
            // Bad ratings' follow-ups (差评整改), as JSON.
            try db.execute(sql: "CREATE TABLE follow_up (id TEXT PRIMARY KEY NOT NULL, rated_at REAL NOT NULL, data TEXT NOT NULL)")
        }
        migrator.registerMigration("v8-referrals") { db in
            // Referrals (首问负责): who sent a citizen on to which service, as JSON.
            try db.execute(sql: "CREATE TABLE referral (id TEXT PRIMARY KEY NOT NULL, at REAL NOT NULL, data TEXT NOT NULL)")
            try db.execute(sql: "CREATE INDEX referral_at ON referral (at)")
        }
        migrator.registerMigration("v9-citizens") { db in
            // Appointments' whole life: the state (checked in ones have their ticket), and the
            // rest (citizen masked, slot length, who cancelled) as JSON.
            try db.execute(sql: "ALTER TABLE appointment ADD COLUMN state TEXT NOT NULL DEFAULT 'booked'")
            try db.execute(sql: "UPDATE appointment SET state = 'checkedIn' WHERE ticket IS NOT NULL")
            try db.execute(sql: "ALTER TABLE appointment ADD COLUMN data TEXT")
            try db.execute(sql: "CREATE INDEX appointment_slot ON appointment (slot)")
            // 限时办结: the promises a ticket went past (JSON array), each announced once.
            try db.execute(sql: "ALTER TABLE ticket ADD COLUMN overdue TEXT")
            // One-time notices (一次性告知) as printed, with their ticket.
            try db.execute(sql: "CREATE TABLE notice (id TEXT PRIMARY KEY NOT NULL, ticket TEXT NOT NULL, at REAL NOT NULL, data TEXT NOT NULL)")
            try db.execute(sql: "CREATE INDEX notice_ticket ON notice (ticket)")
        }
        migrator.registerMigration("v10-lean-issue") { db in
            // An issue is one synced commit: what it costs is the B-tree pages it writes
            // to the WAL (seven before this in a small database, four after). Tickets are
            // kept in their id's B-tree (WITHOUT ROWID: no second tree for the id); no
            // (day, state) index, as every query by day is served by UNIQUE (day,
            // issue_service, seq) and none asks for a state; and no index on the events'
            // time: trimming finds the first event to keep by walking the log from its
            // oldest end (`deleteEvents`).
            try db.execute(
                sql: """
                    CREATE TABLE ticket_lean (
                        id TEXT PRIMARY KEY NOT NULL,
                        day TEXT NOT NULL,
                        service TEXT NOT NULL,
                        seq INTEGER NOT NULL,
                        number TEXT NOT NULL,
                        priority TEXT NOT NULL,
                        appointment TEXT,
                        slot REAL,
                        state TEXT NOT NULL,
                        issued_at REAL NOT NULL,
                        queued_at REAL NOT NULL,
                        called_at REAL,
                        finished_at REAL,
                        window INTEGER,
                        clerk TEXT,
                        recalls INTEGER NOT NULL DEFAULT 0,
                        transferred_from TEXT,
                        print_job TEXT,
                        print_error TEXT,
                        issue_service TEXT NOT NULL,
                        staff_id TEXT,
                        overdue TEXT,
                        UNIQUE (day, issue_service, seq)
                    ) WITHOUT ROWID;
                    INSERT INTO ticket_lean
                        SELECT id, day, service, seq, number, priority, appointment, slot, state, issued_at, queued_at, called_at, finished_at,
                            window, clerk, recalls, transferred_from, print_job, print_error, issue_service, staff_id, overdue
                        FROM ticket;
                    DROP TABLE ticket;
                    ALTER TABLE ticket_lean RENAME TO ticket;
                    DROP INDEX event_time;
                    """)
        }
        migrator.registerMigration("v11-event-floor") { db in
            // A sequence number without AUTOINCREMENT, whose `sqlite_sequence` row was one
            // more page written with every event: the next number is one more than the
            // log's highest (`HallDatabase.insertEvent`), or, when trimming emptied the
            // log, than `event_floor`, the highest number given before that trim. So a
            // number is still never given twice.
            try db.execute(
                sql: """
                    CREATE TABLE event_floor (seq INTEGER NOT NULL);
                    INSERT INTO event_floor SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'event'), 0);
                    CREATE TABLE event_plain (
                        seq INTEGER PRIMARY KEY,
                        type TEXT NOT NULL,
                        device TEXT,
                        time TEXT NOT NULL,
                        data TEXT NOT NULL
                    );
                    INSERT INTO event_plain SELECT seq, type, device, time, data FROM event;
                    DROP TABLE event;
                    ALTER TABLE event_plain RENAME TO event;
                    """)
        }
        migrator.registerMigration("v12-event-reservation") { db in
            // Events that only say what a device reports now are committed without
            // waiting for the disk (`EventType.observations`). The numbers they may take
            // are reserved by a synced commit first: a power cut can lose such events
            // after subscribers had them, but never lets their numbers be given again
            // (`HallDatabase.settleReservation`). `boot` is the kernel's boot id when the
            // reservation was made: on the same boot nothing written was lost.
            try db.execute(
                sql: """
                    CREATE TABLE event_reservation (seq INTEGER NOT NULL, boot TEXT NOT NULL);
                    INSERT INTO event_reservation
                        SELECT MAX(COALESCE((SELECT MAX(seq) FROM event), 0), COALESCE((SELECT seq FROM event_floor), 0)), '';
                    """)
        }
        return migrator
    }
}
