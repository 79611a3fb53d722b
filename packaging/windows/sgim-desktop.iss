; Inno Setup 6 script: turns dist\sgim-desktop (made by packaging\build.sh on Windows) into an installer
; with a Start menu entry and "Open with" for sounds and pictures; PyInstaller itself cannot register
; file types. Build on Windows: iscc packaging\windows\sgim-desktop.iss  ->  dist\sgim-desktop-setup.exe
; Not built or run on Linux, where this project is developed (see docs/packaging.md).

#pragma parseroption -p+
; (Pascal-style strings: a backslash in a preprocessor string is a plain backslash.)
#define AppExe "sgim-desktop.exe"
#define AppDir "..\..\dist\sgim-desktop"
#define AppVersion GetVersionNumbersString(AppDir + "\" + AppExe)

[Setup]
AppId={{5B0F2C0E-8D1A-4E0B-9C5E-5347494D0001}
AppName=sgim-desktop
AppVersion={#AppVersion}
AppPublisher=sgim-desktop contributors
DefaultDirName={autopf}\sgim-desktop
DefaultGroupName=sgim-desktop
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
ChangesAssociations=yes
OutputDir=..\..\dist
OutputBaseFilename=sgim-desktop-setup
SetupIconFile=..\..\build\pyinstaller\icons\icon.ico
UninstallDisplayIcon={app}\{#AppExe}
Compression=lzma2/fast
SolidCompression=no

[Files]
Source: "{#AppDir}\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion

[Icons]
Name: "{group}\sgim-desktop"; Filename: "{app}\{#AppExe}"
Name: "{autodesktop}\sgim-desktop"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Tasks]
Name: desktopicon; Description: "Create a desktop shortcut"; Flags: unchecked

[Registry]
; The application and the types it opens: offered in "Open with" without taking over any default.
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}"; ValueType: string; ValueName: "FriendlyAppName"; ValueData: "sgim-desktop"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}\shell\open\command"; ValueType: string; ValueData: """{app}\{#AppExe}"" ""%1"""
Root: HKA; Subkey: "Software\Classes\sgim-desktop.sound"; ValueType: string; ValueData: "Sound (sgim-desktop)"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\sgim-desktop.sound\DefaultIcon"; ValueType: string; ValueData: "{app}\{#AppExe},0"
Root: HKA; Subkey: "Software\Classes\sgim-desktop.sound\shell\open\command"; ValueType: string; ValueData: """{app}\{#AppExe}"" ""%1"""
Root: HKA; Subkey: "Software\Classes\sgim-desktop.picture"; ValueType: string; ValueData: "Picture (sgim-desktop)"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\sgim-desktop.picture\DefaultIcon"; ValueType: string; ValueData: "{app}\{#AppExe},0"
Root: HKA; Subkey: "Software\Classes\sgim-desktop.picture\shell\open\command"; ValueType: string; ValueData: """{app}\{#AppExe}"" ""%1"""
#define Sound(Ext) \
  'Root: HKA; Subkey: "Software\Classes\' + Ext + '\OpenWithProgids"; ValueType: string; ValueName: "sgim-desktop.sound"; ValueData: ""; Flags: uninsdeletevalue' + NewLine + \
  'Root: HKA; Subkey: "Software\Classes\Applications\' + AppExe + '\SupportedTypes"; ValueType: string; ValueName: "' + Ext + '"; ValueData: ""'
#define Picture(Ext) \
  'Root: HKA; Subkey: "Software\Classes\' + Ext + '\OpenWithProgids"; ValueType: string; ValueName: "sgim-desktop.picture"; ValueData: ""; Flags: uninsdeletevalue' + NewLine + \
  'Root: HKA; Subkey: "Software\Classes\Applications\' + AppExe + '\SupportedTypes"; ValueType: string; ValueName: "' + Ext + '"; ValueData: ""'
#emit Sound(".wav")
#emit Sound(".flac")
#emit Sound(".ogg")
#emit Sound(".opus")
#emit Sound(".mp3")
#emit Sound(".aif")
#emit Sound(".aiff")
#emit Picture(".png")
#emit Picture(".jpg")
#emit Picture(".jpeg")
#emit Picture(".webp")

[Run]
Filename: "{app}\{#AppExe}"; Description: "Start sgim-desktop"; Flags: nowait postinstall skipifsilent
