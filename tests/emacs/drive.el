;;; drive.el --- drive ctask-ls from Emacs + eglot in batch mode  -*- lexical-binding: t -*-

;; Run: emacs --batch -Q -l tests/emacs/drive.el CONFIG.json
;;
;; CONFIG.json: {"out": FILE, "dir": DIR, "server": [ARGV...], "task": NAME,
;;               "agent": PROGRAM, "args": [ARG...], "timeout": SECONDS}
;;
;; Starts the server through `eglot' the way a user would (a transient
;; project on DIR, text-mode), records every ctask/* notification,
;; visits and edits a text file of the project (eglot manages it), runs
;; ctask.new and ctask.list through workspace/executeCommand, waits for the
;; session to be owned and to end, lists again, then shuts the server down
;; (shutdown, exit, and the server must leave by itself).
;;
;; Every observation is one JSON object per line appended to OUT, written as
;; it happens (so a failure later still leaves what was seen):
;;   {"event": "connected", "capabilities": {...}, "server_info": {...}}
;;   {"event": "buffer", "file": F, "mode": "text-mode", "managed": BOOL}
;;   {"event": "notification", "method": "ctask/leaseState", "seq": N, "params": {...}}
;;   {"event": "command", "command": "ctask.new", "result": ...}
;;   {"event": "command", "command": "ctask.new", "error": {"code", "message", "data"}}
;;   {"event": "shutdown", "result": ..., "exited_by_itself": BOOL, "exit_status": N}
;;   {"event": "failed", "message": "..."}      (then Emacs exits 1)
;;   {"event": "done"}                           (then Emacs exits 0)
;; The JSON-RPC transcript and the server's stderr go to OUT.events and OUT.stderr.

(require 'cl-lib)
(require 'json)
(require 'package)

;;; Configuration

(defvar drive--config
  (let ((file (pop command-line-args-left)))
    (unless file (error "usage: emacs --batch -Q -l drive.el CONFIG.json"))
    (json-parse-string (with-temp-buffer (insert-file-contents file) (buffer-string))
                       :object-type 'plist :array-type 'list
                       :null-object nil :false-object :json-false)))

(defun drive--opt (key) (plist-get drive--config key))

(defvar drive--out (drive--opt :out))
(defvar drive--timeout (or (drive--opt :timeout) 45))
(defvar drive--task (drive--opt :task))
(defvar drive--server nil "The eglot server object, once connected.")

;;; Output

(defun drive--emit (&rest fields)
  "Append FIELDS (a plist) to the output file as one JSON line."
  (let ((json-false :json-false)
        (json-null nil)
        (json-encoding-pretty-print nil))
    (write-region (concat (json-encode fields) "\n") nil drive--out 'append 'silent)))

(defun drive--save-buffer (buffer suffix)
  (when (buffer-live-p buffer)
    (with-current-buffer buffer
      (write-region nil nil (concat drive--out suffix) nil 'silent))))

;;; Loading eglot (Debian's elpa-eglot)

(add-to-list 'package-directory-list "/usr/share/emacs/site-lisp/elpa")
(package-initialize)
(unless (require 'eglot nil t)
  ;; No package.el activation: put the packaged directories on the load path.
  (dolist (dir (file-expand-wildcards "/usr/share/emacs/site-lisp/elpa/*-[0-9]*"))
    (add-to-list 'load-path dir))
  (unless (require 'eglot nil t)
    (drive--emit :event "failed" :message "eglot is not installed: apt-get install elpa-eglot")
    (kill-emacs 2)))

;;; Notifications

(defvar drive--notes nil
  "Notifications received, oldest first: plists (:method M :seq N :params P).")

(defun drive--note (method params)
  (let ((seq (length drive--notes)))
    (setq drive--notes (append drive--notes (list (list :method method :seq seq :params params))))
    (drive--emit :event "notification" :method method :seq seq :params params)))

(cl-defmethod eglot-handle-notification (_server (_method (eql ctask/leaseState)) &rest params)
  (drive--note "ctask/leaseState" params))

(cl-defmethod eglot-handle-notification (_server (_method (eql ctask/sessionEnded)) &rest params)
  (drive--note "ctask/sessionEnded" params))

(cl-defmethod eglot-handle-notification (_server (_method (eql ctask/diff)) &rest params)
  (drive--note "ctask/diff" params))

;; eglot has its own handlers for these: record them too, and keep eglot's.
(cl-defmethod eglot-handle-notification :before (_server (_method (eql window/showMessage)) &rest params)
  (drive--note "window/showMessage" params))

(cl-defmethod eglot-handle-notification :before (_server (_method (eql window/logMessage)) &rest params)
  (drive--note "window/logMessage" params))

(defun drive--find-note (method pred &optional after)
  "The first notification METHOD for our task, later than seq AFTER, for which PRED holds."
  (cl-find-if (lambda (note)
                (let ((params (plist-get note :params)))
                  (and (equal (plist-get note :method) method)
                       (> (plist-get note :seq) (or after -1))
                       (equal (plist-get params :name) drive--task)
                       (funcall pred params))))
              drive--notes))

(defun drive--wait (what seconds fn)
  "Process input until FN returns non-nil; return it.  Fail after SECONDS."
  (let ((deadline (+ (float-time) seconds))
        value)
    (while (and (not (setq value (funcall fn)))
                (< (float-time) deadline))
      (accept-process-output nil 0.1))
    (or value (error "Timed out after %ss waiting for %s" seconds what))))

;;; Commands

(defun drive--command (server command argument)
  "Run COMMAND with ARGUMENT through workspace/executeCommand; record and return the result."
  (condition-case err
      (let ((result (jsonrpc-request server :workspace/executeCommand
                                     (list :command command :arguments (vector argument))
                                     :timeout 30)))
        (drive--emit :event "command" :command command :result result)
        result)
    (jsonrpc-error
     (let ((info (cdr err)))
       (drive--emit :event "command" :command command
                    :error (list :code (alist-get 'jsonrpc-error-code info)
                                 :message (alist-get 'jsonrpc-error-message info)
                                 :data (alist-get 'jsonrpc-error-data info)))
       (error "%s failed: %s" command (alist-get 'jsonrpc-error-message info))))))

(defun drive--listed (tasks)
  (cl-find-if (lambda (task) (equal (plist-get task :name) drive--task)) tasks))

;;; Shutting down

(defun drive--shutdown (server)
  "shutdown + exit as an editor sends them; the server must then exit by itself."
  (let ((proc (jsonrpc--process server))
        result)
    (setf (eglot--shutdown-requested server) t)
    (setq result (jsonrpc-request server :shutdown nil :timeout 20))
    (jsonrpc-notify server :exit nil)
    (let ((deadline (+ (float-time) 15)))
      (while (and (process-live-p proc) (< (float-time) deadline))
        (accept-process-output nil 0.1)))
    (let ((exited (not (process-live-p proc))))
      (drive--emit :event "shutdown" :result result
                   :exited_by_itself (if exited t :json-false)
                   :exit_status (and exited (process-exit-status proc))))))

(defun drive--cleanup (server)
  "Save the transcript, then make sure the server process is gone."
  (when server
    (ignore-errors (drive--save-buffer (jsonrpc-events-buffer server) ".events"))
    (ignore-errors (drive--save-buffer (jsonrpc-stderr-buffer server) ".stderr"))
    (when (process-live-p (jsonrpc--process server))
      (ignore-errors (eglot-shutdown server nil 3 t)))
    (when (process-live-p (jsonrpc--process server))
      (ignore-errors (delete-process (jsonrpc--process server))))))

;;; The scenario

(defun drive--run ()
  (let ((dir (file-name-as-directory (drive--opt :dir)))
        server notes-buffer)
    (unwind-protect
        (progn
          (setq eglot-sync-connect t
                eglot-connect-timeout 30
                eglot-autoreconnect nil
                eglot-autoshutdown nil)
          (let ((default-directory dir))
            (setq server (eglot '(text-mode) (cons 'transient dir) 'eglot-lsp-server
                                (drive--opt :server) "text")))
          (unless server (error "eglot returned no server"))
          (setq drive--server server)
          (drive--emit :event "connected"
                       :capabilities (eglot--capabilities server)
                       :server_info (eglot--server-info server)
                       :eglot (locate-library "eglot") :emacs emacs-version)

          ;; A user edits a text file of the project while ctask-ls is
          ;; connected: eglot 1.9 manages text-mode buffers of the project and
          ;; sends didOpen/didChange/didSave/didClose whatever the server
          ;; advertises.  The server must take that quietly.
          (setq notes-buffer (find-file-noselect (expand-file-name "notes.txt" dir)))
          (with-current-buffer notes-buffer
            (text-mode)
            (insert "a note the user writes\n")
            (when eglot--managed-mode (eglot--signal-textDocument/didChange))
            (let ((inhibit-message t)) (save-buffer))
            (drive--emit :event "buffer" :file buffer-file-name :mode (symbol-name major-mode)
                         :managed (if eglot--managed-mode t :json-false)))

          (let ((new (drive--command server "ctask.new"
                                     (list :name drive--task
                                           :agent (drive--opt :agent)
                                           :args (vconcat (drive--opt :args))))))
            (unless (equal (plist-get new :task) drive--task)
              (error "ctask.new returned %S" new)))

          (unless (drive--listed (drive--command server "ctask.list" (make-hash-table)))
            (error "ctask.list does not show %s" drive--task))

          (let* ((owned (drive--wait "ctask/leaseState owned here" 15
                                     (lambda ()
                                       (drive--find-note "ctask/leaseState"
                                                         (lambda (p) (eq (plist-get p :owned_here) t))))))
                 (ended (drive--wait "ctask/sessionEnded" 30
                                     (lambda ()
                                       (drive--find-note "ctask/sessionEnded" #'identity
                                                         (plist-get owned :seq))))))
            ;; The lease goes away after sessionEnded: wait for that too.
            (drive--wait "ctask/leaseState no longer owned" 15
                         (lambda ()
                           (drive--find-note "ctask/leaseState"
                                             (lambda (p) (not (eq (plist-get p :owned_here) t)))
                                             (plist-get ended :seq)))))

          (drive--command server "ctask.list" (make-hash-table))
          (kill-buffer notes-buffer)            ; didClose
          (drive--shutdown server)
          (drive--emit :event "done"))
      (drive--cleanup server))))

(let ((watchdog (run-at-time drive--timeout nil
                             (lambda ()
                               (drive--emit :event "failed"
                                            :message (format "watchdog: still running after %ss" drive--timeout))
                               (drive--cleanup drive--server)
                               (kill-emacs 3)))))
  (condition-case err
      (progn
        (drive--run)
        (cancel-timer watchdog)
        (kill-emacs 0))
    (error
     (cancel-timer watchdog)
     (drive--emit :event "failed" :message (error-message-string err))
     (kill-emacs 1))))

;;; drive.el ends here
