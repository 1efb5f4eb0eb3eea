import GRDB
import GRDBSQLite

/// One of GRDB's cached statements bound and stepped through SQLite's C API: for the
/// statements of every ticket issue and event, where GRDB's arguments (an array of
/// existential values, checked, converted, then bound) and its cursor cost more
/// instructions than SQLite's own work for the row (callgrind: about a fifth of the
/// database writer's work for an issue). The statement stays GRDB's, prepared once
/// per connection and finalized with it; it is reset before it is bound and after it
/// ran, so GRDB finds it as it left it. Used inside a transaction of the caller's, on
/// the writer's connection.
struct PreparedRow {
    private let statement: OpaquePointer
    private let db: Database

    init(_ db: Database, sql: String) throws {
        self.db = db
        self.statement = try db.cachedStatement(sql: sql).sqliteStatement
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
    }

    /// SQLite copies the text before the call returns (`SQLITE_TRANSIENT`).
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// The text by its length in bytes, as GRDB binds it (a NUL in it is kept).
    func bind(_ index: Int32, _ value: String?) throws {
        guard let value else { return try check(sqlite3_bind_null(statement, index)) }
        try check(value.withCString { sqlite3_bind_text(statement, index, $0, Int32(value.utf8.count), Self.transient) })
    }

    func bind(_ index: Int32, _ value: Int) throws { try check(sqlite3_bind_int64(statement, index, Int64(value))) }

    func bind(_ index: Int32, _ value: Double?) throws {
        guard let value else { return try check(sqlite3_bind_null(statement, index)) }
        try check(sqlite3_bind_double(statement, index, value))
    }

    /// Runs a statement that returns no row (an INSERT).
    func run() throws {
        defer { sqlite3_reset(statement) }
        let code = sqlite3_step(statement)
        guard code == SQLITE_DONE else { throw error(code) }
    }

    /// The first column of the one row a query returns, nil when it is NULL.
    func int64() throws -> Int64? {
        defer { sqlite3_reset(statement) }
        let code = sqlite3_step(statement)
        guard code == SQLITE_ROW else { throw error(code == SQLITE_DONE ? SQLITE_ERROR : code) }
        return sqlite3_column_type(statement, 0) == SQLITE_NULL ? nil : sqlite3_column_int64(statement, 0)
    }

    private func check(_ code: Int32) throws {
        guard code == SQLITE_OK else { throw error(code) }
    }

    private func error(_ code: Int32) -> DatabaseError {
        let sql = sqlite3_sql(statement).map { String(cString: $0) }
        return DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage, sql: sql)
    }
}
