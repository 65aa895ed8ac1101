//! IPC commands. Each takes the app's state, calls `parallax-desktop`, and returns its typed
//! error (`AppError { code, message }`). Replies stream over a `tauri::ipc::Channel`.
//! (Tauri's command macro needs commands outside the crate root when they are `pub`.)

use std::sync::Arc;

use parallax_desktop::{App, AppError, AppInfo, AppSettings, ChatEvent, Choice, EndpointStatus, ModelOption};
use parallax_store::{ChatSettings, Conversation, ConversationSummary, Message};
use tauri::ipc::Channel;
use tauri::State;

type Result<T> = std::result::Result<T, AppError>;
type AppState<'a> = State<'a, Arc<App>>;

/// Sends chat events to the UI; a closed channel (window gone) is not an error.
fn sink(channel: Channel<ChatEvent>) -> impl Fn(ChatEvent) + Send + Sync {
    move |ev| {
        let _ = channel.send(ev);
    }
}

#[tauri::command]
pub fn app_info(app: AppState<'_>) -> AppInfo {
    app.info()
}

#[tauri::command]
pub fn list_models(context: Option<usize>) -> Result<Vec<ModelOption>> {
    parallax_desktop::model_options(context)
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

#[tauri::command]
pub fn set_settings(app: AppState<'_>, settings: AppSettings) -> Result<AppSettings> {
    app.set_settings(settings)
}

#[tauri::command]
pub fn endpoint_status(app: AppState<'_>) -> EndpointStatus {
    app.endpoint_status()
}
