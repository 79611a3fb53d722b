"""The sounds in the mix: opening them, the one selected (its waveform, window and weight), and what the
audio encoder hears in its window, asked again a moment after the window stops moving."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QMessageBox, QPushButton, QWidget

from sgim_desktop.engine.sound import Sound
from sgim_desktop.session import Session, SessionState, SoundClip
from sgim_desktop.ui.controllers.models import ModelsController
from sgim_desktop.ui.feedback import Feedback
from sgim_desktop.ui.mixer import MixerPanel
from sgim_desktop.ui.recorder import SHORTEST_RECORDING_S, RecorderPanel, weak_recording
from sgim_desktop.ui.settings import WindowSettings
from sgim_desktop.ui.waveform import WaveformView
from sgim_desktop.ui.worker import EngineWorker
from sgim_desktop.ui.worker_tasks.sounds import Heard, HearTask, OpenedSounds, OpenSoundsTask, SoundMode

HEAR_DELAY_MS = 350


class SoundsController(QObject):
    editWanted = Signal()  # sounds opened with 'edit when recording stops' are in the mix

    def __init__(self, session: Session, worker: EngineWorker, models: ModelsController, sound_list: QListWidget,
                 remove_button: QPushButton, waveform: WaveformView, recorder: RecorderPanel, mixer: MixerPanel,
                 feedback: Feedback, prefs: WindowSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.worker = worker
        self.models = models
        self.sound_list = sound_list
        self.remove_button = remove_button
        self.waveform = waveform
        self.mixer = mixer
        self.feedback = feedback
        self.prefs = prefs
        self.heard: dict[str, tuple[float, list]] = {}  # clip key: (window start, [(label, probability)])
        self.selected: str | None = None  # the selected clip's key
        self._warned: set[str] = set()  # keys of the clips the message shown warns about
        self._syncing = False
        self._hear_timer = QTimer(self)
        self._hear_timer.setSingleShot(True)
        self._hear_timer.setInterval(HEAR_DELAY_MS)
        self._hear_timer.timeout.connect(self.hear_selected)
        sound_list.currentRowChanged.connect(self._clip_selected)
        remove_button.clicked.connect(self._remove_selected)
        waveform.windowChanged.connect(self._window_moved)
        self.recorder = recorder
        self.parent_widget = parent
        recorder.recorded.connect(self._recorded)
        recorder.failed.connect(lambda text: feedback.show_message(text, "error", cause="recorder"))
        recorder.recordingChanged.connect(self._recording_changed)
        waveform.playbackFailed.connect(lambda text: feedback.show_message(text, "error", cause="playback"))
        waveform.playbackStarted.connect(lambda: feedback.clear("playback"))
        mixer.clipWeightChanged.connect(self._weight_changed)
        models.loaded.connect(self.hear_selected)
        worker.finished.connect(self._finished)
        worker.failed.connect(self._failed)

    def open(self, items: list[tuple[str | None, Any]], mode: SoundMode, edit_after: bool = False) -> None:
        """Paths (or recorded sounds) into the mix: ``mode`` 'replace' or 'add'; then edit if asked."""
        self.feedback.status("Reading " + ", ".join(Path(p).name if p else "the recording" for p, _ in items) + "…")
        self.worker.submit(OpenSoundsTask(items, mode, edit_after))

    # -- showing the state -----------------------------------------------------------------------------

    def show_state(self, state: SessionState) -> None:
        self._syncing = True
        try:
            self._show_list(state)
        finally:
            self._syncing = False
        if self.feedback.showing("sound-warning") and not any(c.key in self._warned for c in state.clips):
            self.feedback.clear("sound-warning")  # the sounds it was about left the mix

    def _show_list(self, state: SessionState) -> None:
        keys = [c.key for c in state.clips]
        if self.selected not in keys:
            self.selected = keys[-1] if keys else None
        self.sound_list.blockSignals(True)
        self.sound_list.clear()
        for clip in state.clips:
            weight = "" if clip.weight == 1.0 else f"  ×{clip.weight:g}"
            item = QListWidgetItem(f"{clip.name}  ({clip.sound.duration_s:.1f} s){weight}")
            item.setToolTip(clip.path or "recorded")
            self.sound_list.addItem(item)
        if self.selected is not None:
            self.sound_list.setCurrentRow(keys.index(self.selected))
        self.sound_list.blockSignals(False)
        self.remove_button.setEnabled(bool(keys))
        self._show_selected(state)

    def _show_selected(self, state: SessionState) -> None:
        clip = state.clip(self.selected) if self.selected else None
        self.mixer.set_clip_weight(clip.weight if clip else None)
        self.waveform.blockSignals(True)
        try:
            if clip is None:
                if self.waveform.sound() is not None:
                    self.waveform.set_sound(None)
            else:
                if self.waveform.sound() is not clip.sound:
                    self.waveform.set_sound(clip.sound)
                    heard = self.heard.get(clip.key)
                    known = heard[1] if heard and heard[0] == clip.start_s else None
                    self.waveform.set_heard([] if known is None and self.models.missing else known)
                if abs(self.waveform.window_start() - clip.start_s) > 1e-9:
                    self.waveform.set_window_start(clip.start_s)
        finally:
            self.waveform.blockSignals(False)

    # -- hearing ---------------------------------------------------------------------------------------

    def hear_selected(self) -> None:
        """Ask what the encoder hears in the selected clip's window (when the models are there)."""
        clip = self.session.state.clip(self.selected) if self.selected else None
        if clip is None or self.models.missing:
            return
        known = self.heard.get(clip.key)
        if known is not None and known[0] == clip.start_s:
            self.waveform.set_heard(known[1])
            return
        self.waveform.set_heard(None)
        self.worker.submit(HearTask(clip, self.models.generator_id(), self.session.settings.device))

    def _heard(self, heard: Heard) -> None:
        self.heard[heard.key] = (heard.start_s, heard.top)
        clip = self.session.state.clip(heard.key)
        if heard.key == self.selected and clip is not None and clip.start_s == heard.start_s:
            self.waveform.set_heard(heard.top)

    # -- what the person does --------------------------------------------------------------------------

    def _clip_selected(self, row: int) -> None:
        clips = self.session.state.clips
        if 0 <= row < len(clips):
            self.selected = clips[row].key
            self._show_selected(self.session.state)
            self.hear_selected()

    def _remove_selected(self) -> None:
        if self.selected:
            self.session.remove_sound(self.selected)

    def _window_moved(self, start_s: float) -> None:
        if self._syncing or not self.selected:
            return
        self.session.update_clip(self.selected, start_s=float(start_s))
        self.waveform.set_heard(None)
        self._hear_timer.start()

    def _recorded(self, sound: Sound) -> None:
        """A new recording replaces the mix; one that is silent or under a second asks first."""
        edit_after = self.recorder.record_and_edit()
        weak = weak_recording(sound)
        clips = list(self.session.state.clips)
        if weak is None or not any(c.sound.duration_s >= SHORTEST_RECORDING_S for c in clips):
            self.open([(None, sound)], "replace", edit_after)
        else:
            self.ask_replace(sound, weak, clips, edit_after)

    def ask_replace(self, sound: Sound, weak: str, kept: list[SoundClip], edit_after: bool) -> None:
        """Ask whether a weak recording should replace the sounds in the mix (keeping them is the default)."""
        names = ", ".join(c.describe() for c in kept)
        box = QMessageBox(QMessageBox.Icon.Question, "Use this recording?",
                          f"The new recording is {weak}: the encoder would hear little in it.\n\n"
                          f"Replace {names} with it?", QMessageBox.StandardButton.NoButton, self.parent_widget)
        box.setObjectName("weakRecordingQuestion")
        keep = box.addButton("Keep " + (kept[0].name if len(kept) == 1 else "the sounds"),
                             QMessageBox.ButtonRole.RejectRole)
        replace_button = box.addButton("Use the new recording", QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(keep)
        box.setEscapeButton(keep)

        def answered(button: object) -> None:
            if button is replace_button:
                self.open([(None, sound)], "replace", edit_after)
            else:
                self.feedback.status(f"The recording ({weak}) was not used; {names} stay in the mix.")

        box.buttonClicked.connect(answered)
        box.open()

    def _recording_changed(self, recording: bool) -> None:
        if recording:
            self.feedback.clear("recorder")  # the microphone works now

    def _weight_changed(self, weight: float) -> None:
        if not self._syncing and self.selected:
            self.session.update_clip(self.selected, weight=weight)

    # -- answers from the task thread ------------------------------------------------------------------

    def _finished(self, task: object, result: Any) -> None:
        if isinstance(task, OpenSoundsTask):
            self._opened(task, result)
        elif isinstance(task, HearTask):
            self._heard(result)

    def _opened(self, task: OpenSoundsTask, opened: OpenedSounds) -> None:
        """Into the mix; what could not be read and what decoding noted (a file cut short, a silent
        clip, samples cleaned) is said in the message bar, the notes until their sound leaves the mix."""
        clips, errors = opened.clips, opened.errors
        for clip in clips:
            if clip.path:
                self.prefs.add_recent(clip.path)
        if clips:
            self.selected = clips[-1].key
            if task.mode == "add":
                self.session.add_sounds(clips)
            else:
                self.session.replace_sounds(clips)
        notes = [line for clip in clips for line in opened.warnings.get(clip.key, ())]
        if errors or notes:
            self._warned = {clip.key for clip in clips if clip.key in opened.warnings}
            self.feedback.show_message("\n".join(errors + notes), "error" if errors else "warning",
                                       cause="sound-error" if errors else "sound-warning")
        elif clips:
            self.feedback.clear("sound-error")  # these were read fine: an earlier failure is past
            self.feedback.status("Sound ready: " + ", ".join(c.describe() for c in clips))
        if not clips:
            return
        self.hear_selected()
        if task.edit_after:
            self.editWanted.emit()

    def _failed(self, task: object, message: str) -> None:
        if isinstance(task, HearTask):
            self.waveform.set_heard([])
            self.feedback.status(f"Could not listen to the sound: {message}")
        elif isinstance(task, OpenSoundsTask):
            self.feedback.show_message(f"Could not read the sound: {message}", "error", cause="sound-error")
