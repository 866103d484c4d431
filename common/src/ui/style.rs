//! Looks shared by both windows, derived from the active (system) theme.

use iced::widget::{container, text_editor};
use iced::{Background, Border, Color, Theme};

/// Our own messages: a tinted bubble.
pub fn mine(theme: &Theme) -> container::Style {
    let palette = theme.extended_palette();
    container::Style {
        background: Some(palette.primary.weak.color.scale_alpha(0.25).into()),
        border: Border::default().rounded(8),
        ..container::Style::default()
    }
}

/// The peer's messages.
pub fn theirs(theme: &Theme) -> container::Style {
    let palette = theme.extended_palette();
    container::Style {
        background: Some(palette.background.weak.color.into()),
        border: Border::default().rounded(8),
        ..container::Style::default()
    }
}

/// The "Fernet (AES-128-CBC + HMAC-SHA256)" badge.
pub fn badge(theme: &Theme) -> container::Style {
    let palette = theme.extended_palette();
    container::Style {
        background: Some(palette.success.weak.color.scale_alpha(0.3).into()),
        border: Border::default().rounded(10),
        ..container::Style::default()
    }
}

/// A security alert line.
pub fn alert(theme: &Theme) -> container::Style {
    let palette = theme.extended_palette();
    container::Style {
        background: Some(palette.danger.weak.color.scale_alpha(0.3).into()),
        border: Border::default()
            .rounded(6)
            .color(palette.danger.base.color)
            .width(1),
        ..container::Style::default()
    }
}

/// A message's text while it is selectable: looks like plain text (no box,
/// no border), only the selection shows.
pub fn selectable(theme: &Theme, _status: text_editor::Status) -> text_editor::Style {
    let palette = theme.extended_palette();
    text_editor::Style {
        background: Background::Color(Color::TRANSPARENT),
        border: Border::default(),
        placeholder: palette.secondary.base.color,
        value: palette.background.base.text,
        selection: palette.primary.weak.color,
    }
}
