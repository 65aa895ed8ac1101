// The app's IPC commands, one list shared by build.rs (it generates an `allow-<command>`
// permission for each) and lib.rs (a test keeps the handler, the capability and the UI's
// transport in step with it).
pub const COMMANDS: &[&str] = &[
    "app_info",
    "list_models",
    "preload_model",
    "list_conversations",
    "get_conversation",
    "new_conversation",
    "rename_conversation",
    "delete_conversation",
    "update_chat_settings",
    "send_message",
    "regenerate",
    "edit_and_resend",
    "stop_reply",
    "delete_message",
    "get_settings",
    "set_settings",
    "endpoint_status",
];
