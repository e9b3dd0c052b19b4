//! The one way a vocabulary is declared: an enum whose every variant has one name, with
//! `as_str`, `Display`, `FromStr` and (feature `serde`) serde all reading the same table.
//! A variant may also be read under older names (`Name = "NEW" | "OLD"`): parsing accepts
//! them, every output writes the first.

/// Declares a vocabulary enum; see the module docs.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        $vis:vis enum $ty:ident as $kind:literal {
            $( $(#[$doc:meta])* $variant:ident = $name:literal $(| $synonym:literal)*, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        $vis enum $ty {
            $( $(#[$doc])* $variant, )*
        }

        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            /// Every name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            /// The name as the API, the command line, the store and the audit trail write it.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name,)* }
            }
        }

        impl core::fmt::Display for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl core::str::FromStr for $ty {
            type Err = $crate::UnknownName;

            fn from_str(name: &str) -> Result<Self, Self::Err> {
                match name {
                    $($name $(| $synonym)* => Ok(Self::$variant),)*
                    _ => Err($crate::UnknownName::new($kind, name, Self::NAMES)),
                }
            }
        }

        #[cfg(feature = "serde")]
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Names;
                impl serde::de::Visitor<'_> for Names {
                    type Value = $ty;
                    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                        write!(f, "a {}", $kind)
                    }
                    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<$ty, E> {
                        name.parse().map_err(|_| {
                            E::unknown_variant(name, &[$($name),*])
                        })
                    }
                }
                deserializer.deserialize_str(Names)
            }
        }
    };
}

pub(crate) use vocabulary;
