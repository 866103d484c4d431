//! Looks shared by both windows, derived from the active (system) theme.

use iced::widget::container;
use iced::{Border, Theme};

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
