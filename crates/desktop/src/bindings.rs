//! The TypeScript types of every command payload, generated from the Rust types with ts-rs
//! into `ui/src/lib/bindings.ts`. A test fails when the file is stale; regenerate it with
//! `PARALLAX_WRITE_BINDINGS=1 cargo test -p parallax-desktop --test bindings`.

use ts_rs::TS;

/// The whole bindings file.
pub fn typescript() -> String {
    // JSON numbers: ids and byte counts stay far below 2^53.
    let cfg = ts_rs::Config::new().with_large_int("number");
    let decls = [
        parallax_store::ChatSettings::decl(&cfg),
        parallax_store::Role::decl(&cfg),
        parallax_store::MessageStatus::decl(&cfg),
        parallax_store::MessageStats::decl(&cfg),
        parallax_store::ToolCallRecord::decl(&cfg),
        parallax_store::Message::decl(&cfg),
        parallax_store::ConversationSummary::decl(&cfg),
        parallax_store::Conversation::decl(&cfg),
        crate::AppError::decl(&cfg),
        crate::ChatEvent::decl(&cfg),
        crate::Choice::decl(&cfg),
        crate::MemoryFit::decl(&cfg),
        crate::ModelOption::decl(&cfg),
        crate::AppSettings::decl(&cfg),
        crate::EngineStatus::decl(&cfg),
        crate::PublishedFigure::decl(&cfg),
        crate::RemoteInfo::decl(&cfg),
        crate::RemoteInput::decl(&cfg),
        crate::AppInfo::decl(&cfg),
        crate::EndpointStatus::decl(&cfg),
        parallax_monitor::ProcessStats::decl(&cfg),
        parallax_monitor::SystemStats::decl(&cfg),
        parallax_monitor::EngineStats::decl(&cfg),
        parallax_monitor::GenerationStats::decl(&cfg),
        parallax_monitor::MonitorEvent::decl(&cfg),
        parallax_monitor::Snapshot::decl(&cfg),
        parallax_monitor::ReloadPolicy::decl(&cfg),
        parallax_server::RequestRecord::decl(&cfg),
        parallax_store::BenchRun::decl(&cfg),
        crate::CompareRequest::decl(&cfg),
        crate::ColumnLive::decl(&cfg),
        crate::ColumnResult::decl(&cfg),
        crate::CompareEvent::decl(&cfg),
        crate::CompareResult::decl(&cfg),
        crate::BenchRequest::decl(&cfg),
        crate::BenchEvent::decl(&cfg),
        crate::EngineRow::decl(&cfg),
        crate::BenchReport::decl(&cfg),
    ];
    let mut out =
        String::from("// Generated from the Rust types by ts-rs (crates/desktop/src/bindings.rs). Do not edit.\n\n");
    for d in decls {
        out.push_str("export ");
        out.push_str(&d);
        out.push_str("\n\n");
    }
    out
}
