package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
)

// The governance pages' forms (workspaces, resources, roles, grants, members, org
// admins) keep what was typed when they refuse it: the page is shown again, with
// the values and, next to the field at fault, what was wrong.

// formState is the state of the one form on a page that was posted and refused:
// which form, what was typed, and the message of each field at fault ("" for the
// form as a whole). The zero value is a page shown fresh.
type formState struct {
	Form   string
	Values url.Values
	Errors map[string]string
}

// V is what was typed into field of form, "" when another form was posted.
func (f formState) V(form, field string) string {
	if f.Form != form {
		return ""
	}
	return f.Values.Get(field)
}

// Has reports whether value was among those typed or checked into field of form.
func (f formState) Has(form, field, value string) bool {
	if f.Form != form {
		return false
	}
	for _, v := range f.Values[field] {
		if v == value {
			return true
		}
	}
	return false
}

// E is the message for field of form ("" for the form as a whole).
func (f formState) E(form, field string) string {
	if f.Form != form {
		return ""
	}
	return f.Errors[field]
}

// Posted reports whether form is the one refused (its values replace the page's).
func (f formState) Posted(form string) bool { return f.Form == form }

// formErr refuses a form's input: the page shows the form again with the message
// next to field. Where nothing shows the form again, it is an error page with
// its status and message (Unwrap).
type formErr struct {
	form, field, msg string
	status           int
}

func (e *formErr) Error() string { return e.msg }
func (e *formErr) Unwrap() error { return httpx.Fail(e.status, e.msg, nil) }

// badField refuses a form's field with 422 and msg.
func badField(form, field, msg string) error {
	return &formErr{form: form, field: field, msg: msg, status: http.StatusUnprocessableEntity}
}

// onField puts an error that an operation returned next to field: a conflict or a
// broken rule of the model (with its own message), or a last-admin refusal. Other
// errors go on as they are.
func onField(err error, form, field, conflict string) error {
	if err == nil {
		return nil
	}
	var fe *formErr
	switch {
	case errors.As(err, &fe):
		return err
	case errors.Is(err, core.ErrConflict) && conflict != "":
		return &formErr{form: form, field: field, msg: conflict, status: http.StatusConflict}
	case errors.Is(err, core.ErrInvalid), errors.Is(err, core.ErrLastAdmin), errors.Is(err, core.ErrConflict):
		status, msg := httpx.Status(err)
		return &formErr{form: form, field: field, msg: msg, status: status}
	}
	return err
}

// pageRenderer shows a page, with a refused form's state and a status.
type pageRenderer func(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, fs formState, status int) error

// show is the page's GET handler: the page as it is, 200.
func show(page pageRenderer) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
		return page(w, r, c, pd, formState{}, http.StatusOK)
	}
}

// withForm runs a form's handler; when it refuses the input (a *formErr), page is
// shown again with what was typed and the message next to the field, with the
// refusal's status. Nothing was changed: the handler refuses before it writes, or
// its one transaction failed.
func withForm(page pageRenderer, fn pageFunc) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
		err := fn(w, r, c, pd)
		var fe *formErr
		if !errors.As(err, &fe) {
			return err
		}
		_ = r.ParseForm()
		fs := formState{Form: fe.form, Values: r.PostForm, Errors: map[string]string{fe.field: fe.msg}}
		pd.Flash = &flash{Text: "Nothing was changed: " + fe.msg, Error: true}
		if perr := page(w, r, c, pd, fs, fe.status); perr != nil {
			return perr
		}
		return nil
	}
}
