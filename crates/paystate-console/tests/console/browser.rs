//! Real-browser scenarios in headless Chromium (placeholder replaced below).
