//! Tab and Shift+Tab move the keyboard focus between fields, as in any
//! desktop form. iced's text fields leave Tab to the application (they
//! neither insert it nor move focus), so both windows listen for it here.

use iced::keyboard::{self, Key, key::Named};
use iced::widget::operation;
use iced::{Subscription, Task};

/// Where a Tab press moves the focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    Next,
    Previous,
}

impl Move {
    /// The focus change, as a task for the window's runtime.
    pub fn task<T>(self) -> Task<T> {
        match self {
            Move::Next => operation::focus_next(),
            Move::Previous => operation::focus_previous(),
        }
    }
}

/// Tab presses that no widget used.
pub fn tab_presses() -> Subscription<Move> {
    keyboard::listen().filter_map(tab)
}

fn tab(event: keyboard::Event) -> Option<Move> {
    match event {
        keyboard::Event::KeyPressed {
            key: Key::Named(Named::Tab),
            modifiers,
            ..
        } => Some(if modifiers.shift() {
            Move::Previous
        } else {
            Move::Next
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced::keyboard::{Location, Modifiers, key};

    fn press(key: Key, modifiers: Modifiers) -> keyboard::Event {
        keyboard::Event::KeyPressed {
            key: key.clone(),
            modified_key: key,
            physical_key: key::Physical::Unidentified(key::NativeCode::Unidentified),
            location: Location::Standard,
            modifiers,
            text: None,
            repeat: false,
        }
    }

    #[test]
    fn tab_moves_forward_and_shift_tab_back() {
        let tab_key = Key::Named(Named::Tab);
        assert_eq!(
            tab(press(tab_key.clone(), Modifiers::empty())),
            Some(Move::Next)
        );
        assert_eq!(tab(press(tab_key, Modifiers::SHIFT)), Some(Move::Previous));
    }

    #[test]
    fn other_keys_do_not_move_the_focus() {
        assert_eq!(
            tab(press(Key::Named(Named::Enter), Modifiers::empty())),
            None
        );
        assert_eq!(
            tab(press(Key::Character("a".into()), Modifiers::empty())),
            None
        );
    }
}
