"""One router per resource; handlers stay thin and call :mod:`service.crud` or a service module."""
