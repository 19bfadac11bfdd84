// The first field with an error gets the focus (and is scrolled into view), so whoever sent the
// form lands on what to fix: with a keyboard, a screen reader or on a phone, where a message at
// the top of a long page is off the screen.
document.addEventListener("DOMContentLoaded", function () {
  var invalid = document.querySelector('[aria-invalid="true"]');
  if (invalid) {
    invalid.focus({ preventScroll: true });
    invalid.scrollIntoView({ block: "center" });
  }
});
