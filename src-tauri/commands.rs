//! IPC commands. Each takes the app's state, calls `parallax-desktop`, and returns its typed
//! error (`AppError { code, message }`). Replies stream over a `tauri::ipc::Channel`.
//! (Tauri's command macro needs commands outside the crate root when they are `pub`.)

use std::sync::Arc;

use parallax_desktop::{
    App, AppError, AppInfo, AppSettings, BenchEvent, BenchReport, BenchRequest, ChatEvent, Choice, CompareEvent,
    CompareRequest, CompareResult, EndpointStatus, ModelOption, RemoteInfo, RemoteInput,
};
use parallax_server::RequestRecord;
use parallax_store::{BenchRun, ChatSettings, Conversation, ConversationSummary, Message};
use tauri::ipc::Channel;
use tauri::{AppHandle, Emitter, Runtime, State};
use tauri_plugin_dialog::{DialogExt, FilePath};

type Result<T> = std::result::Result<T, AppError>;
type AppState<'a> = State<'a, Arc<App>>;

/// Sends chat events to the UI; a closed channel (window gone) is not an error.
fn sink(channel: Channel<ChatEvent>) -> impl Fn(ChatEvent) + Send + Sync {
    move |ev| {
        let _ = channel.send(ev);
    }
}

// Off the main thread: the remotes are probed over the network (cached for a few seconds).
#[tauri::command(async)]
pub fn app_info(app: AppState<'_>) -> AppInfo {
    app.info()
}

#[tauri::command(async)]
pub fn list_models(app: AppState<'_>, context: Option<usize>) -> Result<Vec<ModelOption>> {
    app.model_options(context)
}

#[tauri::command]
pub async fn preload_model(app: AppState<'_>, choice: Choice) -> Result<()> {
    app.preload(&choice).await
}

#[tauri::command]
pub fn list_conversations(app: AppState<'_>, search: Option<String>) -> Result<Vec<ConversationSummary>> {
    app.conversations(search.as_deref())
}

#[tauri::command]
pub fn get_conversation(app: AppState<'_>, id: i64) -> Result<Conversation> {
    app.conversation(id)
}

#[tauri::command]
pub fn new_conversation(app: AppState<'_>, title: Option<String>) -> Result<Conversation> {
    app.new_conversation(title.as_deref())
}

#[tauri::command]
pub fn rename_conversation(app: AppState<'_>, id: i64, title: String) -> Result<()> {
    app.rename_conversation(id, &title)
}

#[tauri::command]
pub fn delete_conversation(app: AppState<'_>, id: i64) -> Result<()> {
    app.delete_conversation(id)
}

#[tauri::command]
pub fn update_chat_settings(app: AppState<'_>, id: i64, settings: ChatSettings) -> Result<()> {
    app.update_chat_settings(id, &settings)
}

#[tauri::command]
pub async fn send_message(
    app: AppState<'_>,
    conversation_id: i64,
    content: String,
    choice: Choice,
    on_event: Channel<ChatEvent>,
) -> Result<Message> {
    app.send_message(conversation_id, &content, &choice, &sink(on_event))
        .await
}

#[tauri::command]
pub async fn send_tool_result(
    app: AppState<'_>,
    conversation_id: i64,
    call_id: String,
    content: String,
    choice: Choice,
    on_event: Channel<ChatEvent>,
) -> Result<Message> {
    app.send_tool_result(conversation_id, &call_id, &content, &choice, &sink(on_event))
        .await
}

#[tauri::command]
pub async fn regenerate(
    app: AppState<'_>,
    conversation_id: i64,
    choice: Choice,
    on_event: Channel<ChatEvent>,
) -> Result<Message> {
    app.regenerate(conversation_id, &choice, &sink(on_event)).await
}

#[tauri::command]
pub async fn edit_and_resend(
    app: AppState<'_>,
    message_id: i64,
    content: String,
    choice: Choice,
    on_event: Channel<ChatEvent>,
) -> Result<Message> {
    app.edit_and_resend(message_id, &content, &choice, &sink(on_event))
        .await
}

#[tauri::command]
pub fn stop_reply(app: AppState<'_>, conversation_id: i64) -> bool {
    app.stop(conversation_id)
}

#[tauri::command]
pub fn delete_message(app: AppState<'_>, id: i64) -> Result<()> {
    app.delete_message(id)
}

#[tauri::command]
pub fn get_settings(app: AppState<'_>) -> AppSettings {
    app.settings()
}

#[tauri::command(async)]
pub fn list_remotes(app: AppState<'_>, probe: bool) -> Result<Vec<RemoteInfo>> {
    app.remotes(probe)
}

#[tauri::command(async)]
pub fn add_remote(app: AppState<'_>, remote: RemoteInput) -> Result<Vec<RemoteInfo>> {
    app.add_remote(remote)
}

#[tauri::command(async)]
pub fn remove_remote(app: AppState<'_>, name: String) -> Result<Vec<RemoteInfo>> {
    app.remove_remote(&name)
}

#[tauri::command]
pub fn set_settings(app: AppState<'_>, settings: AppSettings) -> Result<AppSettings> {
    app.set_settings(settings)
}

#[tauri::command]
pub fn endpoint_status(app: AppState<'_>) -> EndpointStatus {
    app.endpoint_status()
}

#[tauri::command]
pub fn endpoint_requests(app: AppState<'_>) -> Vec<RequestRecord> {
    app.endpoint_requests()
}

#[tauri::command]
pub async fn set_endpoint_running(app: AppState<'_>, on: bool) -> Result<EndpointStatus> {
    app.set_endpoint_running(on).await
}

/// A path from the native dialog (`None`: the user cancelled). Folders for MLX models.
async fn pick<R: Runtime>(handle: &AppHandle<R>, folder: bool) -> Option<std::path::PathBuf> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let dialog = handle.dialog().file().set_title("Import a model");
    let send = move |p: Option<FilePath>| {
        let _ = tx.send(p.and_then(|p| p.into_path().ok()));
    };
    if folder {
        dialog.pick_folder(send);
    } else {
        dialog.add_filter("GGUF model", &["gguf"]).pick_file(send);
    }
    rx.await.ok().flatten()
}

/// Opens the native dialog (a .gguf file, or an MLX folder) and imports the pick.
#[tauri::command]
pub async fn import_model<R: Runtime>(handle: AppHandle<R>, app: AppState<'_>, folder: bool) -> Result<Option<String>> {
    match pick(&handle, folder).await {
        Some(path) => app.import_model(&path.to_string_lossy()).map(|e| Some(e.id)),
        None => Ok(None),
    }
}

#[tauri::command]
pub fn remove_model(app: AppState<'_>, path: String) -> Result<()> {
    app.remove_model(&path)
}

#[tauri::command]
pub fn reveal_path(path: String) -> Result<()> {
    parallax_desktop::reveal(&path)
}

#[tauri::command]
pub async fn compare(
    app: AppState<'_>,
    request: CompareRequest,
    on_event: Channel<CompareEvent>,
) -> Result<CompareResult> {
    app.compare(&request, &move |ev| {
        let _ = on_event.send(ev);
    })
    .await
}

#[tauri::command]
pub fn stop_comparison(app: AppState<'_>) -> bool {
    app.stop_comparison()
}

#[tauri::command]
pub fn save_comparison(app: AppState<'_>) -> Result<BenchRun> {
    app.save_comparison()
}

/// Starts a benchmark; its progress and end arrive as `bench` events.
#[tauri::command]
pub fn start_bench<R: Runtime>(handle: AppHandle<R>, app: AppState<'_>, request: BenchRequest) -> Result<String> {
    app.inner().start_bench(
        &request,
        Arc::new(move |ev: BenchEvent| {
            let _ = handle.emit(crate::BENCH_EVENT, ev);
        }),
    )
}

#[tauri::command]
pub fn cancel_bench(app: AppState<'_>) -> bool {
    app.cancel_bench()
}

#[tauri::command]
pub fn bench_runs(app: AppState<'_>) -> Result<Vec<BenchRun>> {
    app.bench_runs()
}

#[tauri::command]
pub fn bench_report(app: AppState<'_>, id: i64) -> Result<BenchReport> {
    app.bench_report(id)
}

#[tauri::command]
pub fn delete_bench_run(app: AppState<'_>, id: i64) -> Result<()> {
    app.delete_bench_run(id)
}

/// Asks where to save (native dialog), then copies the run's JSON, CSV or Markdown there.
#[tauri::command]
pub async fn export_bench<R: Runtime>(
    handle: AppHandle<R>,
    app: AppState<'_>,
    id: i64,
    format: String,
) -> Result<Option<String>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let name = parallax_desktop::export_file_name(&format);
    handle.dialog().file().set_file_name(name).save_file(move |p| {
        let _ = tx.send(p.and_then(|p| p.into_path().ok()));
    });
    let Some(dest) = rx.await.ok().flatten() else {
        return Ok(None);
    };
    let dest = dest.to_string_lossy().into_owned();
    app.export_bench(id, &format, &dest)?;
    Ok(Some(dest))
}

#[tauri::command]
pub fn open_bench_folder(app: AppState<'_>, id: i64) -> Result<()> {
    app.open_bench_folder(id)
}

/// The UI's first paint, in ms since the process started (the launch benchmark reads it).
#[tauri::command]
pub fn first_paint(app: AppState<'_>) -> f64 {
    app.first_paint()
}
